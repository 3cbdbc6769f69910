"""The Hetzner labels mailstack puts on a stack's resources, and how to read them.

The config rules (a throwaway must expire, prod never carries these), the
throwaway CLI and the reaper all read one label scheme, so it lives here, at
the bottom, importing nothing of the project. Stdlib only: `scripts/reap.py`
runs on a bare Python.

The keys have no `prefix/` because Hetzner (like Kubernetes) wants the prefix
to be a domain the owner controls, and mailstack owns none.
"""

from __future__ import annotations

from collections.abc import Iterable

KIND_LABEL = "mailstack-kind"
THROWAWAY = "throwaway"
STACK_LABEL = "mailstack-stack"
EXPIRES_LABEL = "mailstack-expires"
ENVIRONMENT_LABEL = "mailstack-environment"
RESERVED_LABELS = (KIND_LABEL, STACK_LABEL, EXPIRES_LABEL, ENVIRONMENT_LABEL)
THROWAWAY_ONLY_LABELS = (KIND_LABEL, EXPIRES_LABEL)
"""What makes a server reapable; a prod stack never carries these (config rule)."""


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """`["k=v", ...]` (the `serverLabels` config form) -> `{"k": "v"}`."""
    return dict(item.partition("=")[::2] for item in items)
