"""Assemble one host's services: the app preset, the proxy, the local mail sink,
the metrics exporter.

Pure: from `StackParams` to the `Project` model and the non-secret files
(compose.yaml, Caddyfile, preset files) that go next to each other on the host.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from components.services import kinds
from components.services.caddyfile import (
    BACKUP_STATUS_ROOT,
    LOCAL_HTTP_PORT,
    MTA_STS_ROOT,
    Route,
    Site,
    render_caddyfile,
)
from components.services.compose import render_compose
from components.services.model import Condition, Mount, Port, Project, Role, Secret, Service
from components.services.presets import AppParams, build_app

MTA_STS_FILE = "mta-sts.txt"


@dataclass(frozen=True)
class MtaSts:
    """The MTA-STS policy the proxy serves (the one DNS announces)."""

    host: str
    """`mta-sts.<domain>`."""
    policy: str
    """The policy file's exact text."""


@dataclass(frozen=True)
class StackParams:
    project: str
    """Compose project name, e.g. `mailstack-prod`."""
    app: AppParams
    app_host: str
    """Public host name of the app; empty on the local stack (served on localhost)."""
    www_host: str = ""
    admin_cidrs: tuple[str, ...] = ()
    local_http_port: int = 8080
    local_mail_ui_port: int = 8025
    volume_root: str = ""
    mta_sts: MtaSts | None = None
    backup_status_dir: str = ""
    """Host directory with the backup status (`backup.json`, `backup.stale`),
    served at the backup health endpoint; empty when backups are off."""
    monitoring: bool = False
    """Run node_exporter, served at `/metrics` to `admin_cidrs` only."""
    textfile_dir: str = ""
    """Host directory of `*.prom` files the exporter serves too (the backups'
    metrics); empty for none."""
    storage_host: str = ""
    """Servers: the object store's public host (its S3 API only); empty: internal."""
    local_storage_port: int = 0
    """Local stack: the object store's S3 API on http://localhost:<this>; 0: internal."""
    digests: Mapping[str, str] = field(default_factory=dict)
    """`name:tag` -> the digest the preview resolved; every such image is pinned by it."""

    @property
    def local(self) -> bool:
        return not self.app_host


@dataclass(frozen=True)
class Rendered:
    project: Project
    files: Mapping[str, str]
    """Non-secret files by path relative to the project directory."""
    admin_password: Secret | None = None
    """Where the app's first admin password comes from, when the preset generates one."""


def build_stack(p: StackParams) -> Rendered:
    app = build_app(p.app)
    services = list(app.services)
    mail_ui = None
    if p.local:
        services.append(kinds.mail_sink())
        mail_ui = Route(kinds.MAIL_SINK_NAME, kinds.MAIL_SINK_UI_PORT)
        ports: tuple[Port, ...] = (
            Port(p.local_http_port, LOCAL_HTTP_PORT, "127.0.0.1"),
            Port(p.local_mail_ui_port, kinds.MAIL_SINK_UI_PORT, "127.0.0.1"),
        )
    else:
        ports = (Port(80, 80), Port(443, 443))
    storage, storage_site = None, ""
    if any(s.name == kinds.STORAGE_NAME for s in services):
        if p.local and p.local_storage_port:
            storage_site = f":{kinds.STORAGE_S3_PORT}"
            ports = (*ports, Port(p.local_storage_port, kinds.STORAGE_S3_PORT, "127.0.0.1"))
        elif not p.local and p.storage_host:
            storage_site = p.storage_host
        if storage_site:
            storage = Route(kinds.STORAGE_NAME, kinds.STORAGE_S3_PORT)
    metrics = None
    if p.monitoring:
        # Not among the proxy's dependencies: the app neither waits for its
        # monitoring nor goes down with it.
        services.append(kinds.node_exporter(p.textfile_dir))
        metrics = Route(kinds.NODE_EXPORTER_NAME, kinds.NODE_EXPORTER_PORT)
    site = Site(
        project=p.project,
        app_host=p.app_host,
        routes=app.routes,
        admin_paths=app.admin_paths,
        public_paths=app.public_paths,
        admin_cidrs=p.admin_cidrs,
        www_host=p.www_host,
        mail_ui=mail_ui,
        mail_ui_port=kinds.MAIL_SINK_UI_PORT,
        mta_sts_host=p.mta_sts.host if p.mta_sts else "",
        backup_status_root=BACKUP_STATUS_ROOT if p.backup_status_dir else "",
        metrics=metrics,
        storage=storage,
        storage_site=storage_site,
    )
    caddyfile = render_caddyfile(site)
    served: dict[str, str] = {}
    proxy_mounts = []
    if p.mta_sts:
        served[MTA_STS_FILE] = p.mta_sts.policy
        target = f"{MTA_STS_ROOT}/.well-known/mta-sts.txt"
        proxy_mounts.append(Mount(f"./{MTA_STS_FILE}", target, read_only=True))
    if p.backup_status_dir:
        proxy_mounts.append(Mount(p.backup_status_dir, BACKUP_STATUS_ROOT, read_only=True))
    upstreams = {r.upstream for r in app.routes} | ({mail_ui.upstream} if mail_ui else set())
    upstreams |= {storage.upstream} if storage else set()
    # The proxy also waits for one-shot setup jobs: besides ordering, this is
    # what lets `docker compose up --wait` accept a job that exited with 0.
    jobs = {s.name: Condition.COMPLETED for s in services if s.role is Role.JOB}
    deps = {**{n: Condition.HEALTHY for n in sorted(upstreams)}, **jobs}
    proxy = kinds.caddy(ports, deps, proxy_mounts)
    mounted = {"Caddyfile": caddyfile, **served, **app.files}
    services = [_pinned(_with_files_hash(s, mounted), p.digests) for s in (proxy, *services)]
    project = Project(p.project, tuple(services), volume_root=p.volume_root)
    files = {"compose.yaml": render_compose(project), **mounted}
    return Rendered(project, files, admin_password=app.admin_password)


def _with_files_hash(service: Service, files: Mapping[str, str]) -> Service:
    """Label a service with the hash of the project files it mounts.

    Compose cannot see a bind-mounted file change; the label can, so a new
    Caddyfile or nginx.conf recreates the service (and changes its deploy trigger).
    """
    used = sorted(m.source.removeprefix("./") for m in service.mounts if not m.is_volume)
    used = [f for f in used if f in files]
    if not used:
        return service
    digest = hashlib.sha256("".join(f"{f}\0{files[f]}\0" for f in used).encode()).hexdigest()
    return replace(service, labels={**service.labels, "org.mailstack.files-sha256": digest})


def image_refs(project: Project) -> tuple[str, ...]:
    """Every `name:tag` the project runs that no digest pins yet."""
    return tuple(sorted({s.image.ref for s in project.services if not s.image.digest}))


def _pinned(service: Service, digests: Mapping[str, str]) -> Service:
    """The service with its image pinned by the resolved digest (a configured one stays)."""
    digest = digests.get(service.image.ref) if not service.image.digest else None
    return replace(service, image=replace(service.image, digest=digest)) if digest else service
