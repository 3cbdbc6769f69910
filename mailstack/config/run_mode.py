"""Is this a real `pulumi up`, or a preview or an offline synth?

Placeholder values are warnings until something real would be built with them.
`pulumi.runtime.is_dry_run()` tells a preview from an `up`, but the offline
synth runs the mock engine with preview=False (or unknown outputs would never
resolve), so it looks like an `up`: the harness says so explicitly.
"""

from __future__ import annotations

import pulumi

_offline_synth = False


def set_offline_synth(on: bool) -> None:
    """Called by tools.harness around every mock run: not a real deployment."""
    global _offline_synth
    _offline_synth = on


def is_real_up() -> bool:
    return not _offline_synth and not pulumi.runtime.is_dry_run()
