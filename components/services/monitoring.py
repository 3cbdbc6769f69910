"""The monitoring services of one host: Prometheus, Alertmanager,
blackbox_exporter, cAdvisor and Grafana, with their rendered files.

Each runs from its pinned official image on the internal network, publishes
nothing, and is reached only through the proxy's admin-only paths
(`/prometheus`, `/alertmanager`, `/grafana`). blackbox_exporter and, on
servers, Alertmanager also join `edge`: they probe the public URL and the
relay, and send mail through the relay.

Memory limits, together 344 MiB (goal: 350): Prometheus 128 (a few thousand
series, 15 days), Grafana 96, cAdvisor 64, Alertmanager 32, blackbox 24.

The container-metrics exporter is cAdvisor, slimmed by flags: Docker's own
engine metrics have nothing per container, and the small alternatives
(docker_stats_exporter and similar) are unmaintained and poll `docker stats`,
which costs the engine more than cAdvisor's cgroup reads. Its housekeeping
runs every 30 s with only the cpu, memory, network-less and process metrics,
which keeps it near 40 MiB instead of the 150+ MiB of its defaults. It reads
the Docker socket (read-only mount; the API itself is not read-only, so the
container keeps no capabilities and sits on the internal network only).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from components.monitoring import paths
from components.monitoring.alertmanager import render_alertmanager
from components.monitoring.blackbox import render_blackbox
from components.monitoring.dashboards import render_dashboards
from components.monitoring.grafana import (
    DASHBOARDS_DIR,
    render_dashboard_provider,
    render_datasource,
)
from components.monitoring.params import MonitoringParams

__all__ = ["MonitoringParams", "build_monitoring"]
from components.monitoring.prometheus import render_prometheus
from components.monitoring.rules import render_rules
from components.services.caddyfile import Route
from components.services.kinds import http_check
from components.services.model import (
    Healthcheck,
    Image,
    Limits,
    Mount,
    Network,
    Role,
    Secret,
    Service,
    config_secret,
    random_secret,
)

PROMETHEUS = Image("prom/prometheus", "v2.53.4")
ALERTMANAGER = Image("prom/alertmanager", "v0.27.0")
BLACKBOX = Image("prom/blackbox-exporter", "v0.25.0")
CADVISOR = Image("gcr.io/cadvisor/cadvisor", "v0.49.1")
GRAFANA = Image("grafana/grafana-oss", "11.6.0")
NOBODY = "65534:65534"
GRAFANA_USER = "472:0"
"""The Grafana image's own user."""
PROXY_METRICS_PORT = 2020
"""Where the proxy serves its own metrics on the compose networks (not published)."""
CADVISOR_PORT = 8080
GRAFANA_PORT = 3000
GRAFANA_PASSWORD = random_secret("grafana-admin")
WEBHOOK_SECRET = "alertWebhookUrl"  # noqa: S105 (the key's name, not its value)
"""The config key of the optional webhook URL (a secret)."""
DIR = "monitoring"
"""The rendered files' directory, next to compose.yaml."""


@dataclass(frozen=True)
class Monitoring:
    services: tuple[Service, ...]
    files: Mapping[str, str]
    """Non-secret files by path relative to the project directory."""
    routes: tuple[Route, ...]
    """Admin-only proxy routes to the UIs."""


def _file(name: str, target: str) -> Mount:
    return Mount(f"./{DIR}/{name}", target, read_only=True)


def prometheus(public_url: str) -> Service:
    prefix = paths.PREFIX["prometheus"]
    return Service(
        name="prometheus",
        role=Role.MONITORING,
        image=PROMETHEUS,
        limits=Limits(memory_mb=128, cpus=0.5, pids=128),
        command=(
            f"--config.file={paths.PROMETHEUS_CONFIG}",
            f"--storage.tsdb.path={paths.PROMETHEUS_DATA}",
            "--storage.tsdb.retention.time=15d",
            "--storage.tsdb.retention.size=1GB",
            f"--web.external-url={public_url}{prefix}/",
            f"--web.route-prefix={prefix}",
        ),
        user=NOBODY,
        mounts=(
            Mount("prometheus-data", paths.PROMETHEUS_DATA),
            _file("prometheus.yml", paths.PROMETHEUS_CONFIG),
            _file("rules.yml", paths.PROMETHEUS_RULES),
        ),
        healthcheck=http_check(paths.PROMETHEUS_PORT, f"{prefix}/-/healthy"),
    )


def alertmanager(p: MonitoringParams, relay_password: Secret | None, edge: bool) -> Service:
    """Secrets reach it as files on its tmpfs, written from its env file by the
    shell builtin `printf` (in no process's argv), then read via `*_file`."""
    prefix = paths.PREFIX["alertmanager"]
    secret_env: dict[str, Secret] = {}
    writes = []
    if p.relay.password and relay_password is not None:
        secret_env["SMTP_PASSWORD"] = relay_password
        writes.append(f'printf %s "$SMTP_PASSWORD" > {paths.SMTP_PASSWORD_FILE}')
    if p.webhook:
        secret_env["WEBHOOK_URL"] = config_secret(WEBHOOK_SECRET)
        writes.append(f'printf %s "$WEBHOOK_URL" > {paths.WEBHOOK_URL_FILE}')
    run = shlex.join(
        [
            "/bin/alertmanager",
            f"--config.file={paths.ALERTMANAGER_CONFIG}",
            f"--storage.path={paths.ALERTMANAGER_DATA}",
            f"--web.external-url={p.public_url}{prefix}/",
            f"--web.route-prefix={prefix}",
            # One instance: no gossip port.
            "--cluster.listen-address=",
        ]
    )
    script = " && ".join(["umask 077", *writes, f"exec {run}"])
    return Service(
        name="alertmanager",
        role=Role.MONITORING,
        image=ALERTMANAGER,
        limits=Limits(memory_mb=32, cpus=0.25, pids=64),
        entrypoint=("/bin/sh", "-c"),
        command=(script,),
        user=NOBODY,
        secret_env=secret_env,
        mounts=(
            Mount("alertmanager-data", paths.ALERTMANAGER_DATA),
            _file("alertmanager.yml", paths.ALERTMANAGER_CONFIG),
        ),
        tmpfs=(paths.SECRETS_DIR,),
        networks=(Network.EDGE, Network.INTERNAL) if edge else (Network.INTERNAL,),
        healthcheck=http_check(paths.ALERTMANAGER_PORT, f"{prefix}/-/healthy"),
    )


def blackbox(edge: bool) -> Service:
    return Service(
        name="blackbox",
        role=Role.MONITORING,
        image=BLACKBOX,
        limits=Limits(memory_mb=24, cpus=0.25, pids=64),
        command=(f"--config.file={paths.BLACKBOX_CONFIG}",),
        user=NOBODY,
        mounts=(_file("blackbox.yml", paths.BLACKBOX_CONFIG),),
        networks=(Network.EDGE, Network.INTERNAL) if edge else (Network.INTERNAL,),
        healthcheck=http_check(paths.BLACKBOX_PORT, "/-/healthy"),
    )


def cadvisor() -> Service:
    return Service(
        name="cadvisor",
        role=Role.METRICS,
        image=CADVISOR,
        limits=Limits(memory_mb=64, cpus=0.25, pids=128),
        command=(
            "--docker_only=true",
            "--housekeeping_interval=30s",
            "--store_container_labels=false",
            "--whitelisted_container_labels=com.docker.compose.service",
            "--disable_metrics=advtcp,cpu_topology,cpuset,disk,diskIO,hugetlb,memory_numa,"
            "network,percpu,perf_event,process,referenced_memory,resctrl,sched,tcp,udp",
        ),
        mounts=(
            Mount("/var/run/docker.sock", "/var/run/docker.sock", read_only=True),
            Mount("/sys", "/sys", read_only=True),
            Mount("/var/lib/docker", "/var/lib/docker", read_only=True),
        ),
        healthcheck=http_check(CADVISOR_PORT, "/healthz"),
    )


def grafana(dashboards: tuple[str, ...]) -> Service:
    """`dashboards`: file names under `monitoring/dashboards/`, each mounted read-only."""
    prefix = paths.PREFIX["grafana"]
    return Service(
        name="grafana",
        role=Role.MONITORING,
        image=GRAFANA,
        limits=Limits(memory_mb=96, cpus=0.5, pids=128),
        user=GRAFANA_USER,
        environment={
            "GF_SERVER_ROOT_URL": f"%(protocol)s://%(domain)s{prefix}/",
            "GF_SERVER_SERVE_FROM_SUB_PATH": "true",
            "GF_SECURITY_ADMIN_USER": "admin",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
            "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
            "GF_PLUGINS_PREINSTALL_DISABLED": "true",
        },
        secret_env={"GF_SECURITY_ADMIN_PASSWORD": GRAFANA_PASSWORD},
        mounts=(
            Mount("grafana-data", "/var/lib/grafana"),
            _file("grafana-datasource.yml", "/etc/grafana/provisioning/datasources/mailstack.yml"),
            _file("grafana-dashboards.yml", "/etc/grafana/provisioning/dashboards/mailstack.yml"),
            *(_file(f"dashboards/{name}", f"{DASHBOARDS_DIR}/{name}") for name in dashboards),
        ),
        tmpfs=("/tmp",),  # noqa: S108 (a private tmpfs)
        healthcheck=Healthcheck(
            (
                "CMD",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                f"http://127.0.0.1:{GRAFANA_PORT}{prefix}/api/health",
            ),
            start_period="60s",
        ),
    )


def build_monitoring(
    p: MonitoringParams, relay_password: Secret | None, *, edge: bool, grafana_on: bool = True
) -> Monitoring:
    """The services, files and admin routes; `edge`: servers (probe and mail the outside)."""
    files = {
        f"{DIR}/prometheus.yml": render_prometheus(p),
        f"{DIR}/rules.yml": render_rules(p),
        f"{DIR}/alertmanager.yml": render_alertmanager(p),
        f"{DIR}/blackbox.yml": render_blackbox(p),
    }
    services = [prometheus(p.public_url), alertmanager(p, relay_password, edge), blackbox(edge)]
    if p.container_exporter:
        services.append(cadvisor())
    routes = [
        Route("prometheus", paths.PROMETHEUS_PORT, f"{paths.PREFIX['prometheus']}*"),
        Route("alertmanager", paths.ALERTMANAGER_PORT, f"{paths.PREFIX['alertmanager']}*"),
    ]
    if grafana_on:
        dashboards = render_dashboards()
        services.append(grafana(tuple(sorted(dashboards))))
        files.update({f"{DIR}/dashboards/{name}": text for name, text in dashboards.items()})
        files[f"{DIR}/grafana-datasource.yml"] = render_datasource()
        files[f"{DIR}/grafana-dashboards.yml"] = render_dashboard_provider()
        routes.append(Route("grafana", GRAFANA_PORT, f"{paths.PREFIX['grafana']}*"))
    return Monitoring(tuple(services), files, tuple(routes))
