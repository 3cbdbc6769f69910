"""The step that pulls every image a host runs, at once, before any service deploys.

Pure: renders the shell step (checked by shellcheck). The deploy steps of the
services wait for it instead of pulling their own images one service after
another.
"""

from __future__ import annotations

import hashlib
import re

from components.services.caddyfile import TEMPLATES
from components.services.model import Project
from components.templates import environment

_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")


def image_refs(project: Project) -> tuple[str, ...]:
    """Every image the project's services run, once each, sorted."""
    refs = sorted({s.image.ref for s in project.services})
    for ref in refs:
        if not _REF_RE.fullmatch(ref):
            raise ValueError(f"image {ref!r} is not a plain image reference")
    return tuple(refs)


def refs_hash(refs: tuple[str, ...]) -> str:
    """The pull step's trigger: it runs again exactly when the set of images changes."""
    return hashlib.sha256("\n".join(refs).encode()).hexdigest()


def render_pull_step(project: Project) -> str:
    """Pull the images missing on the host, in parallel; fails if any pull fails."""
    return (
        environment(TEMPLATES)
        .get_template("pull.sh.j2")
        .render(project=project.name, refs=image_refs(project))
    )
