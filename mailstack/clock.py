"""The time of this deploy, as the program sees it.

A real `pulumi up` reads the wall clock (the backup status step uses it as a
trigger that is new on every run); the mock harness fixes it, so offline synth
and the tests stay byte-identical from one run to the next.
"""

from __future__ import annotations

from datetime import UTC, datetime

_fixed: datetime | None = None


def now() -> datetime:
    """The current UTC time, or the fixed one."""
    return _fixed or datetime.now(UTC)


def fix(at: datetime) -> None:
    """Make `now()` return `at` from here on (the mock harness does, for every run)."""
    global _fixed
    _fixed = at
