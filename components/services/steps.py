"""Render the shell steps that deploy services on a host (pure; checked by shellcheck).

The same text runs as a pulumi-command `local` or `remote` command and, for
the local stack, is published under `deploy/` so it can be run and tested
without Pulumi. Files travel inside the files step (non-secret, so previews
show their diff); secrets travel only on a service step's stdin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from components.services.caddyfile import TEMPLATES
from components.services.compose import env_file_path
from components.services.model import Project, Role, Service, Update
from components.templates import environment


def render_files_step(
    project: Project,
    directory: str,
    files: Mapping[str, str],
    *,
    create: bool = False,
    generation: str = "",
) -> str:
    """Write every non-secret file of the project into `directory`.

    It also creates each missing env file empty: compose loads the whole
    project, so a service's step would fail on a later service's env file that
    its own step has not written yet ("env file ... not found").

    The `create` variant also leaves a marker when the project is already
    running, so that the delete of a step it replaces does not stop it. The
    `generation` (see deploy.py) names this step's files on the host: the
    delete of an older step, run after its successor, finds another one.
    """
    env_files = sorted(env_file_path(s) for s in project.services if s.secret_env)
    return (
        environment(TEMPLATES)
        .get_template("files.sh.j2")
        .render(
            project=project.name,
            dir=directory,
            files=sorted(files.items()),
            env_files=env_files,
            create=create,
            generation=_generation(generation),
        )
    )


def render_down_step(project: Project, directory: str, generation: str = "") -> str:
    """Stop every container of the project, keeping its volumes (the files step's delete).

    Only while the host holds `generation`: otherwise a newer files step wrote
    the project since, and runs it now.
    """
    return (
        environment(TEMPLATES)
        .get_template("down.sh.j2")
        .render(project=project.name, dir=directory, generation=_generation(generation))
    )


def _generation(value: str) -> str:
    if value and not value.isalnum():
        raise ValueError(f"generation {value!r} must be letters and digits")
    return value


@dataclass(frozen=True)
class Releases:
    """Where a host keeps its release history, and whether it snapshots first."""

    releases_dir: str
    """The history's directory, relative to the compose directory (`../releases`)."""
    backup_bin: str = ""
    """Where `mailstack-backup` and `mailstack-restore` are: the stack has
    backups, so a release that changes an image or migrates is snapshotted
    first. Empty: no backups, no snapshot."""


def migrating_jobs(project: Project) -> frozenset[str]:
    """Jobs that may migrate a database: those running an app's own image
    (listmonk's `app-install` runs `--install` and `--upgrade`)."""
    app_images = {s.image for s in project.services if s.role is Role.APP}
    return frozenset(
        s.name for s in project.services if s.role is Role.JOB and s.image in app_images
    )


def snapshots_first(service: Service, project: Project) -> bool:
    """Whether a new release of `service` is snapshotted first on a stack with
    backups: an app (its image changes) or a job that may migrate."""
    return service.role is Role.APP or service.name in migrating_jobs(project)


def _after_migration(service: Service, project: Project) -> bool:
    """Whether `service` starts after a migrating job (its failure undoes the migration)."""
    by_name = {s.name: s for s in project.services}
    jobs = migrating_jobs(project)
    seen: set[str] = set()
    todo = sorted(service.depends_on)
    while todo:
        name = todo.pop()
        if name in jobs:
            return True
        if name not in seen and name in by_name:
            seen.add(name)
            todo.extend(sorted(by_name[name].depends_on))
    return False


def _release_params(
    service: Service, project: Project, releases: Releases | None
) -> dict[str, str | bool] | None:
    if releases is None:
        return None
    backup_bin = releases.backup_bin if snapshots_first(service, project) else ""
    consumer = service.role is not Role.JOB and _after_migration(service, project)
    return {
        "releases_dir": releases.releases_dir,
        "backup_bin": backup_bin,
        "migrates": service.name in migrating_jobs(project),
        "consumer": "1" if consumer else "0",
    }


def render_deploy_step(
    service: Service,
    project: Project,
    directory: str,
    definition_hash: str,
    releases: Releases | None = None,
) -> str:
    """Bring one service up (or replace it) and wait until it is healthy.

    With `releases`, each release is recorded on the host, snapshotted first
    when the stack has backups, and a failed one is rolled back
    (assets/services/mailstack-release).
    """
    volume_dirs = (
        [(v, f"{project.volume_root}/{v}") for v in service.volumes] if project.volume_root else []
    )
    return (
        environment(TEMPLATES)
        .get_template("deploy.sh.j2")
        .render(
            service=service.name,
            project=project.name,
            dir=directory,
            definition_hash=definition_hash,
            env_file=env_file_path(service) if service.secret_env else "",
            volume_dirs=volume_dirs,
            volume_owner=_numeric_user(service),
            job=service.role is Role.JOB,
            start_first=service.update is Update.START_FIRST,
            release=_release_params(service, project, releases),
        )
    )


def render_remove_step(service: Service, project: Project, directory: str) -> str:
    """Remove a service's containers once it is gone from the compose file."""
    return (
        environment(TEMPLATES)
        .get_template("remove.sh.j2")
        .render(service=service.name, project=project.name, dir=directory)
    )


def _numeric_user(service: Service) -> str:
    """`uid:gid` of a service that runs as a fixed non-root user: a new volume
    directory (created by root) is handed to it, or it could not write there."""
    return service.user if re.fullmatch(r"[1-9][0-9]*:[0-9]+", service.user) else ""
