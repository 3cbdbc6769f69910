"""Assemble one host's services: the app preset, the proxy, the local mail sink,
the metrics exporter.

Pure: from `ProjectParams` to the `Project` model and the non-secret files
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
from components.services.mirror import with_mirror
from components.services.model import Condition, Mount, Port, Project, Role, Secret, Service
from components.services.monitoring import (
    PROXY_METRICS_PORT,
    Monitoring,
    MonitoringParams,
    build_monitoring,
)
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
class ProjectParams:
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
    alerting: MonitoringParams | None = None
    """Run Prometheus, Alertmanager, the probes, cAdvisor and Grafana with these
    settings, on admin-only paths; None: none of them."""
    image_mirror: str = ""
    """Registry mirror every image is pulled from (`components/services/mirror.py`);
    empty for the images' own registries."""
    storage_host: str = ""
    """Servers: the object store's public host (its S3 API only); empty: internal."""
    local_storage_port: int = 0
    """Local stack: the object store's S3 API on http://localhost:<this>; 0: internal."""
    digests: Mapping[str, str] = field(default_factory=dict)
    """`name:tag` -> the digest the preview resolved; every such image is pinned by it."""
    proxy_protocol_from: tuple[str, ...] = ()
    """Networks (CIDR) whose connections open with a PROXY header, from which the
    proxy takes the client's address: the load balancer of a multi-node stack."""

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


def _edge(p: ProjectParams) -> tuple[list[Service], Route | None, tuple[Port, ...]]:
    """The local mail sink and the proxy's ports: on localhost only, locally."""
    if not p.local:
        return [], None, (Port(80, 80), Port(443, 443))
    ports = (
        Port(p.local_http_port, LOCAL_HTTP_PORT, "127.0.0.1"),
        Port(p.local_mail_ui_port, kinds.MAIL_SINK_UI_PORT, "127.0.0.1"),
    )
    return [kinds.mail_sink()], Route(kinds.MAIL_SINK_NAME, kinds.MAIL_SINK_UI_PORT), ports


def _storage(
    p: ProjectParams, services: list[Service], ports: tuple[Port, ...]
) -> tuple[Route | None, str, tuple[Port, ...]]:
    """The object store's public S3 route and site, and the proxy's ports with it.

    Servers: on `storage_host` when set. Locally: on localhost:`local_storage_port`.
    Only the S3 port is routed; the master, filer and volume ports stay internal.
    """
    if not any(s.name == kinds.STORAGE_NAME for s in services):
        return None, "", ports
    site = ""
    if p.local and p.local_storage_port:
        site = f":{kinds.STORAGE_S3_PORT}"
        ports = (*ports, Port(p.local_storage_port, kinds.STORAGE_S3_PORT, "127.0.0.1"))
    elif not p.local and p.storage_host:
        site = p.storage_host
    route = Route(kinds.STORAGE_NAME, kinds.STORAGE_S3_PORT) if site else None
    return route, site, ports


def _proxy_files(p: ProjectParams) -> tuple[dict[str, str], list[Mount]]:
    """Files the proxy serves besides the app: the MTA-STS policy, the backup status."""
    served: dict[str, str] = {}
    mounts = []
    if p.mta_sts:
        served[MTA_STS_FILE] = p.mta_sts.policy
        target = f"{MTA_STS_ROOT}/.well-known/mta-sts.txt"
        mounts.append(Mount(f"./{MTA_STS_FILE}", target, read_only=True))
    if p.backup_status_dir:
        mounts.append(Mount(p.backup_status_dir, BACKUP_STATUS_ROOT, read_only=True))
    return served, mounts


def _unawaited_jobs(services: list[Service]) -> dict[str, Condition]:
    """The one-shot jobs no other service waits for (see build_project)."""
    awaited = {d for s in services for d, c in s.depends_on.items() if c is Condition.COMPLETED}
    jobs = {s.name: Condition.COMPLETED for s in services if s.role is Role.JOB}
    return {n: c for n, c in jobs.items() if n not in awaited}


def _alerting(p: ProjectParams) -> Monitoring | None:
    """Prometheus, Alertmanager, the probes and Grafana, when the stack runs them."""
    if p.alerting is None:
        return None
    return build_monitoring(p.alerting, p.app.relay.password, edge=not p.local)


def build_project(p: ProjectParams) -> Rendered:
    app = build_app(p.app)
    sink, mail_ui, ports = _edge(p)
    services = [*app.services, *sink]
    storage, storage_site, ports = _storage(p, services, ports)
    metrics = None
    if p.monitoring:
        # Not among the proxy's dependencies: the app neither waits for its
        # monitoring nor goes down with it.
        services.append(kinds.node_exporter(p.textfile_dir))
        metrics = Route(kinds.NODE_EXPORTER_NAME, kinds.NODE_EXPORTER_PORT)
    alerting = _alerting(p)
    services.extend(alerting.services if alerting else ())
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
        admin_routes=alerting.routes if alerting else (),
        storage=storage,
        storage_site=storage_site,
        metrics_port=PROXY_METRICS_PORT if alerting else 0,
        proxy_protocol_from=p.proxy_protocol_from,
    )
    caddyfile = render_caddyfile(site)
    served, proxy_mounts = _proxy_files(p)
    # The proxy waits for none of its upstreams: it re-resolves them every
    # second and holds requests while none answers (as during an update), so
    # it starts, and gets its certificate, while the app is still deploying.
    # It waits only for the one-shot jobs no other service waits for: that is
    # what lets `docker compose up --wait` accept a job that exited with 0.
    proxy = kinds.caddy(ports, _unawaited_jobs(services), proxy_mounts)
    mounted = {
        "Caddyfile": caddyfile,
        **served,
        **app.files,
        **(alerting.files if alerting else {}),
    }
    services = [with_mirror(s, p.image_mirror) for s in (proxy, *services)]
    # Pinned after the mirror rewrite: the digest is looked up under the name pulled.
    services = [_pinned(_with_files_hash(s, mounted), p.digests) for s in services]
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
