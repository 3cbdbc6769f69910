"""Rewrite image references to an image-registry mirror (pure).

A mirror serves each image under its path on its home registry: a Docker Hub
image under its full Docker Hub path (`caddy` -> `library/caddy`,
`listmonk/listmonk` as is), an image of another registry under that
registry's host name (`ghcr.io/you/app` -> `ghcr.io/you/app`). That is the
layout of a pull-through cache such as `registry:2` with `proxy.remoteurl`
for Docker Hub, and of Harbor/Nexus/Artifactory proxy projects.

    mirrored("caddy:2.11.7", "mirror.internal:5000")
      -> "mirror.internal:5000/library/caddy:2.11.7"
"""

from __future__ import annotations

from dataclasses import replace

from components.services.model import Image, Service

DOCKER_HUB = "docker.io"


def split_registry(name: str) -> tuple[str, str]:
    """`name` -> (registry, path), with Docker's rules for the registry part.

    The first path component is a registry when it has a `.` or a `:` or is
    `localhost` (the rule `docker pull` applies); otherwise the image is on
    Docker Hub, where one-component names live under `library/`.
    """
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    if not sep:
        return DOCKER_HUB, f"library/{name}"
    return DOCKER_HUB, name


def mirrored_name(name: str, mirror: str) -> str:
    """The image's name on `mirror` (unchanged when `mirror` is empty)."""
    if not mirror:
        return name
    registry, path = split_registry(name)
    if registry in (DOCKER_HUB, "registry-1.docker.io", "index.docker.io"):
        return f"{mirror}/{path}"
    return f"{mirror}/{registry}/{path}"


def mirrored_image(image: Image, mirror: str) -> Image:
    return replace(image, name=mirrored_name(image.name, mirror))


def mirrored(ref: str, mirror: str) -> str:
    """`name:tag[@digest]` on `mirror`."""
    return mirrored_image(Image.parse(ref), mirror).ref


def with_mirror(service: Service, mirror: str) -> Service:
    return replace(service, image=mirrored_image(service.image, mirror)) if mirror else service
