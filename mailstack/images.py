"""The images a stack runs: pinned by digest, built from the repo, and the host
prepared to pull them (registry login) and to run MailWizz (its source).

Each provider SDK is imported inside the function that needs it, so a stack
loads pulumi_docker only when it resolves digests (servers) and
pulumi_docker_build only when it builds an image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from components.host import Host
from components.services.presets import MAILWIZZ_SOURCE_DIR
from components.services.project import ProjectParams, build_project, image_refs
from mailstack.config import StackConfig

if TYPE_CHECKING:
    from components.host_prep import SourceArchive
    from components.images import RegistryLogin

REPO = Path(__file__).resolve().parent.parent
"""The project's root (`appImageBuild` is a directory in it)."""


def resolved_digests(
    config: StackConfig, stack: ProjectParams, skip: str = ""
) -> Mapping[str, str]:
    """The digest each image's tag points to now (a data source: runs at preview)."""
    # Imported here so the local stack never loads pulumi_docker.
    from components.images import resolve_digests

    refs = [r for r in image_refs(build_project(stack).project) if r != skip]
    return resolve_digests(refs, registry_login(config))


def registry_login(config: StackConfig) -> RegistryLogin | None:
    """Credentials for the registry of private and built images, when configured."""
    from components.images import RegistryLogin

    registry = config.app.image_registry or config.app.image_repository.split("/", 1)[0]
    if not registry or not config.secrets.has("imageRegistryPassword"):
        return None
    return RegistryLogin(
        registry, config.app.image_registry_username, config.secrets.get("imageRegistryPassword")
    )


def _built_image(
    config: StackConfig, login: RegistryLogin | None
) -> tuple[str, list[pulumi.Resource]]:
    """Build `appImageBuild` (pushed when there is a registry login); its ref."""
    if not config.app.image_build:
        return "", []
    # Imported here: only stacks that build load pulumi_docker_build.
    from components.app_image import AppImage, AppImageArgs

    context = REPO / config.app.image_build
    name = context.name
    repository = (
        f"{config.app.image_repository}/{name}" if login is not None else f"mailstack-local/{name}"
    )
    platform = "linux/arm64" if config.server.type.startswith("cax") else "linux/amd64"
    image = AppImage("app-image", AppImageArgs(context, repository, login, platform))
    return image.ref, [image.image]


def prepare_host(config: StackConfig, host: Host) -> tuple[Host, str]:
    """Build the app image, log the host in to the registry, deliver MailWizz's
    source: the host the services deploy on waits for all of it. Returns that
    host and the built image's ref ('' when nothing is built)."""
    login = None if config.is_local else registry_login(config)
    built, ready = _built_image(config, login)
    archives: tuple[SourceArchive, ...] = ()
    if config.app.mailwizz_archive_sha256:
        from components.host_prep import SourceArchive

        archives = (
            SourceArchive(
                config.secrets.get("mailwizzArchiveUrl"),
                config.app.mailwizz_archive_sha256,
                f"{host.layout.compose_dir}/{MAILWIZZ_SOURCE_DIR}",
            ),
        )
    if login is not None or archives:
        from components.host_prep import HostPrep, HostPrepArgs

        prep = HostPrep("host-prep", HostPrepArgs(host, login, archives))
        ready.extend(prep.steps)
    return replace(host, ready=(*host.ready, *ready)), built
