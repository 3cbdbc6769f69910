"""Build an app image from a Dockerfile in the repo and push it (pulumi-docker-build).

Why `pulumi_docker_build` and not `pulumi_docker.Image` for builds: it is
Pulumi's BuildKit-native build resource (buildx: multi-platform, so an amd64
laptop builds the arm64 image a `cax` server runs; build caches; secrets as
build secrets), it builds only on `up` unless asked to at preview, and it
reports the pushed `digest`. `pulumi_docker.Image` is the older, docker-engine
build kept for compatibility. `pulumi_docker` stays in use for what only it
has: `get_registry_image`, the digest lookup at preview (components/images.py).

The tag is the hash of the build context, so it is known at preview: a changed
Dockerfile gives a new tag, hence a new compose definition, hence a redeploy;
an unchanged one builds nothing. Imported only by stacks that build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from components.images import RegistryLogin


def context_tag(directory: Path) -> str:
    """`ctx-<16 hex>`: the hash of every file in the build context (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(directory)}\0".encode() + path.read_bytes() + b"\0")
    return f"ctx-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class AppImageArgs:
    context: Path
    """The directory holding the Dockerfile (the whole build context)."""
    repository: str
    """Where to push, e.g. `ghcr.io/acme/mailstack/mailwizz-php`; the tag is added."""
    login: RegistryLogin | None
    """Push credentials; None builds into the local engine only (the local stack)."""
    platform: str = "linux/amd64"
    """The server's platform (`linux/arm64` for Hetzner's Ampere `cax` types)."""


class AppImage(pulumi.ComponentResource):
    """One image built from the repo: `mailstack:images:AppImage`."""

    ref: str
    """`repository:tag`, known at preview."""
    image: docker_build.Image

    def __init__(
        self, name: str, args: AppImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:images:AppImage", name, None, opts)
        self.ref = f"{args.repository}:{context_tag(args.context)}"
        push = args.login is not None
        self.image = docker_build.Image(
            f"{name}-build",
            push=push,
            load=not push,
            context=docker_build.BuildContextArgs(location=str(args.context)),
            dockerfile=docker_build.DockerfileArgs(location=str(args.context / "Dockerfile")),
            platforms=[docker_build.Platform(args.platform)],
            tags=[self.ref],
            registries=(
                [
                    docker_build.RegistryArgs(
                        address=args.login.address,
                        username=args.login.username,
                        password=pulumi.Output.secret(args.login.password),
                    )
                ]
                if args.login is not None
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"ref": self.ref, "digest": self.image.digest})
