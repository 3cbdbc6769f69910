"""Grafana dashboards generated from Python (grafana-foundation-sdk), never hand-edited.

Each panel is data: a title, a unit and its PromQL queries, each query naming
the scrape job its series come from (the e2e test evaluates every query
against a running Prometheus and needs to know which jobs ran there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from components.monitoring.grafana import DATASOURCE_UID
from components.monitoring.rules import FILESYSTEMS, JOBS, SEND_ATTEMPTS, SEND_FAILURES


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    job: str
    """The scrape job whose series the query reads."""
    tls: bool = False
    """Only has data when the probed URL is HTTPS (servers)."""


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    panels: tuple[PanelSpec, ...]


def _q(expr: str, legend: str, job: str, tls: bool = False) -> Query:
    return Query(expr, legend, JOBS[job], tls)


NODE, HTTP = "node", "http"
DASHBOARDS = (
    DashboardSpec(
        "mailstack-host",
        "Host",
        (
            PanelSpec(
                "CPU busy",
                "percent",
                (
                    _q(
                        "(1 - avg without (cpu, mode) "
                        '(rate(node_cpu_seconds_total{mode="idle"}[5m]))) * 100',
                        "{{instance}}",
                        NODE,
                    ),
                ),
            ),
            PanelSpec(
                "Memory used",
                "percent",
                (
                    _q(
                        "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100",
                        "{{instance}}",
                        NODE,
                    ),
                ),
            ),
            PanelSpec(
                "Disk used",
                "percent",
                (
                    _q(
                        f"(1 - node_filesystem_avail_bytes{{{FILESYSTEMS}}} / "
                        f"node_filesystem_size_bytes{{{FILESYSTEMS}}}) * 100",
                        "{{mountpoint}}",
                        NODE,
                    ),
                ),
            ),
            PanelSpec(
                "Load", "short", (_q("node_load1", "1 min", NODE), _q("node_load5", "5 min", NODE))
            ),
        ),
    ),
    DashboardSpec(
        "mailstack-containers",
        "Containers",
        (
            PanelSpec(
                "CPU by container",
                "percentunit",
                (
                    _q(
                        'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m]))',
                        "{{name}}",
                        "containers",
                    ),
                ),
            ),
            PanelSpec(
                "Memory by container",
                "bytes",
                (_q('container_memory_working_set_bytes{name!=""}', "{{name}}", "containers"),),
            ),
            PanelSpec(
                "Starts in 15 min",
                "short",
                (
                    _q(
                        'changes(container_start_time_seconds{name!=""}[15m]) + 1',
                        "{{name}}",
                        "containers",
                    ),
                ),
            ),
        ),
    ),
    DashboardSpec(
        "mailstack-http",
        "HTTP and app",
        (
            PanelSpec(
                "App health probe",
                "short",
                (_q(f'probe_success{{job="{JOBS[HTTP]}"}}', "{{instance}}", HTTP),),
            ),
            PanelSpec(
                "Probe duration",
                "s",
                (_q(f'probe_duration_seconds{{job="{JOBS[HTTP]}"}}', "{{instance}}", HTTP),),
            ),
            PanelSpec(
                "Proxy requests by status",
                "reqps",
                (
                    _q(
                        "sum by (code) (rate(caddy_http_request_duration_seconds_count[5m]))",
                        "{{code}}",
                        "caddy",
                    ),
                ),
            ),
            PanelSpec(
                "Proxy latency (p95)",
                "s",
                (
                    _q(
                        "histogram_quantile(0.95, sum by (le) "
                        "(rate(caddy_http_request_duration_seconds_bucket[5m])))",
                        "p95",
                        "caddy",
                    ),
                ),
            ),
            PanelSpec(
                "Certificate days left",
                "d",
                (
                    _q(
                        f'(probe_ssl_earliest_cert_expiry{{job="{JOBS[HTTP]}"}} - time()) / 86400',
                        "{{instance}}",
                        HTTP,
                        tls=True,
                    ),
                ),
            ),
        ),
    ),
    DashboardSpec(
        "mailstack-backups",
        "Backups",
        (
            PanelSpec(
                "Hours since the last backup",
                "h",
                (
                    _q(
                        "(time() - mailstack_backup_last_success_timestamp_seconds) / 3600",
                        "age",
                        NODE,
                    ),
                    _q("mailstack_backup_max_age_seconds / 3600", "allowed", NODE),
                ),
            ),
            PanelSpec(
                "Last backup duration",
                "s",
                (_q("mailstack_backup_last_duration_seconds", "duration", NODE),),
            ),
            PanelSpec(
                "Days since the last repository check",
                "d",
                (
                    _q(
                        "(time() - mailstack_backup_check_last_success_timestamp_seconds) / 86400",
                        "check",
                        NODE,
                    ),
                ),
            ),
        ),
    ),
    DashboardSpec(
        "mailstack-mail",
        "Mail sending",
        (
            PanelSpec(
                "Relay reachable (SMTP + STARTTLS)",
                "short",
                (_q(f'probe_success{{job="{JOBS["relay"]}"}}', "{{instance}}", "relay"),),
            ),
            PanelSpec(
                "Mail host resolves",
                "short",
                (_q(f'probe_success{{job="{JOBS["dns"]}"}}', "{{instance}}", "dns"),),
            ),
            PanelSpec(
                "Sends and failures",
                "ops",
                (
                    _q(f"sum(rate({SEND_ATTEMPTS}[5m]))", "sends", "app"),
                    _q(f"sum(rate({SEND_FAILURES}[5m]))", "failures", "app"),
                ),
            ),
            PanelSpec(
                "Alert emails sent",
                "short",
                (
                    _q(
                        "sum by (integration) "
                        '(alertmanager_notifications_total{integration="email"})',
                        "{{integration}}",
                        "alertmanager",
                    ),
                ),
            ),
        ),
    ),
)


def build(spec: DashboardSpec) -> str:
    """One dashboard's JSON, as Grafana's file provisioning reads it (stable text)."""
    source = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
    dashboard = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .tags(["mailstack"])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .readonly()
    )
    for number, panel in enumerate(spec.panels):
        builder = TimeSeries().title(panel.title).unit(panel.unit).datasource(source)
        builder = builder.grid_pos(_grid(number))
        for index, query in enumerate(panel.queries):
            builder = builder.with_target(
                Dataquery().expr(query.expr).legend_format(query.legend).ref_id(chr(65 + index))
            )
        dashboard = dashboard.with_panel(builder)
    return json.dumps(dashboard.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def _grid(number: int) -> GridPos:
    return GridPos(h=8, w=12, x=12 * (number % 2), y=8 * (number // 2))


def render_dashboards() -> dict[str, str]:
    """File name -> dashboard JSON."""
    return {f"{spec.uid}.json": build(spec) for spec in DASHBOARDS}
