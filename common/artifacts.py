"""Rendered files that components hand to synth for review and validation.

Components call `publish` where rendered text meets a resource; under a real
`pulumi up` nothing is written, under synth the harness resolves and writes
every published file into `build/<stack>/`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Artifact:
    content: pulumi.Input[str]
    mode: int = 0o644


_published: dict[str, Artifact] = {}


def publish(path: str, content: pulumi.Input[str], mode: int = 0o644) -> None:
    """Offer a rendered file at `path` (relative to build/<stack>/) to synth."""
    if path in _published:
        raise ValueError(f"artifact {path!r} published twice")
    _published[path] = Artifact(content, mode)


def collected() -> dict[str, Artifact]:
    return dict(_published)


def reset() -> None:
    _published.clear()
