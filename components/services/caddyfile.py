"""Render the proxy's Caddyfile (pure; checked by `caddy validate`).

Servers get automatic HTTPS for the app host (and a www redirect), HSTS,
admin paths limited to the admin CIDRs / the Tailscale range, the backup
health endpoint when backups run, `/metrics` (admin-only) when monitoring
runs, and the MTA-STS policy on `mta-sts.<domain>` when the platform
receives mail. The local stack
serves plain HTTP on ports published to 127.0.0.1 only, plus the mail sink's UI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from components.templates import environment

TEMPLATES = Path(__file__).resolve().parents[2] / "assets" / "services"
LOCAL_HTTP_PORT = 80
"""Where the proxy listens inside its container on the local stack."""
MTA_STS_ROOT = "/srv/mta-sts"
"""Inside the proxy: the directory whose `.well-known/mta-sts.txt` is the policy."""
BACKUP_STATUS_ROOT = "/srv/backup-status"
"""Inside the proxy: the host's backup status directory (read-only)."""
BACKUP_HEALTH_PATH = "/healthz/backup"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Route:
    """Requests under `path` (every other request when empty) go to `upstream:port`."""

    upstream: str
    port: int
    path: str = ""


@dataclass(frozen=True)
class Site:
    project: str
    app_host: str
    """The app's public host name; empty on the local stack."""
    routes: tuple[Route, ...]
    admin_paths: tuple[str, ...] = ()
    """Path patterns only `admin_cidrs` may reach (e.g. `/admin*`)."""
    public_paths: tuple[str, ...] = ()
    """Exceptions inside the admin paths that stay public (e.g. `/api/public/*`)."""
    admin_cidrs: tuple[str, ...] = ()
    www_host: str = ""
    """A host that redirects to the app host (e.g. `www.example.com`); empty for none."""
    mail_ui: Route | None = None
    mail_ui_port: int = 8025
    mta_sts_host: str = ""
    """`mta-sts.<domain>`, serving the MTA-STS policy; empty for none."""
    mta_sts_root: str = MTA_STS_ROOT
    backup_status_root: str = ""
    """Where the proxy sees `backup.json` and the `backup.stale` marker; empty: no
    backup health endpoint."""
    metrics: Route | None = None
    """The metrics exporter, served at `/metrics` to `admin_cidrs` only; None: no route."""
    admin_routes: tuple[Route, ...] = ()
    """Routes only `admin_cidrs` may reach, each under its own path (the monitoring UIs)."""
    metrics_port: int = 0
    """Where the proxy serves its own metrics to Prometheus (inside the compose
    networks; never published); 0: no metrics."""
    storage: Route | None = None
    """The object store's S3 port, public on its own host so presigned URLs work
    from outside; None: the store stays internal."""
    storage_site: str = ""
    """Its site address: `<storageSubdomain>.<domain>`, or `:<port>` locally."""
    proxy_protocol_from: tuple[str, ...] = ()
    """Networks whose connections open with a PROXY header (the load balancer's):
    Caddy reads the client's address from it. A header from anywhere else is
    read and ignored, so no other client can claim an admin address."""

    @property
    def local(self) -> bool:
        return not self.app_host


def _check(site: Site) -> None:
    if not site.routes or site.routes[-1].path:
        raise ValueError("the last route must catch every other request (empty path)")
    if site.local and (site.www_host or site.mta_sts_host):
        raise ValueError("www and MTA-STS hosts need the app's public host name")
    if site.local and site.proxy_protocol_from:
        raise ValueError("the local stack has no load balancer to read PROXY headers from")
    if bool(site.storage) != bool(site.storage_site):
        raise ValueError("a storage route needs its site address, and the other way round")


def render_caddyfile(site: Site) -> str:
    _check(site)
    admin_paths, routes = site.admin_paths, site.routes
    if site.metrics:
        if not site.admin_cidrs:
            raise ValueError("/metrics needs admin CIDRs: without them it would be public")
        # An admin path like the app's: the same check, before any proxying.
        admin_paths = (*admin_paths, METRICS_PATH)
        routes = (replace(site.metrics, path=METRICS_PATH), *routes)
    if site.admin_routes:
        if not site.admin_cidrs or any(not r.path for r in site.admin_routes):
            raise ValueError("admin routes need admin CIDRs and a path each")
        admin_paths = (*admin_paths, *(r.path for r in site.admin_routes))
        routes = (*site.admin_routes, *routes)
    return (
        environment(TEMPLATES)
        .get_template("Caddyfile.j2")
        .render(
            project=site.project,
            local=site.local,
            hsts=not site.local,
            site=site.app_host or f":{LOCAL_HTTP_PORT}",
            app_host=site.app_host,
            www_host=site.www_host,
            routes=routes,
            admin_paths=admin_paths,
            public_paths=site.public_paths,
            admin_cidrs=site.admin_cidrs,
            mail_ui=site.mail_ui,
            mail_ui_port=site.mail_ui_port,
            mta_sts_host=site.mta_sts_host,
            mta_sts_root=site.mta_sts_root,
            backup_status_root=site.backup_status_root,
            backup_health_path=BACKUP_HEALTH_PATH,
            metrics_port=site.metrics_port,
            storage=site.storage,
            storage_site=site.storage_site,
            proxy_protocol_from=site.proxy_protocol_from,
        )
    )
