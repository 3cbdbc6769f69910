"""Render prometheus.yml: what is scraped and probed, where alerts go."""

from __future__ import annotations

import yaml

from components.monitoring import paths
from components.monitoring.params import MonitoringParams
from components.monitoring.rules import JOBS

BLACKBOX = f"blackbox:{paths.BLACKBOX_PORT}"
ALERTMANAGER = f"alertmanager:{paths.ALERTMANAGER_PORT}"
MODULES = {"http": "http_health", "relay": "smtp_starttls", "dns": "mail_host"}
"""blackbox_exporter modules by probe (blackbox.py defines them)."""


def _static(job: str, target: str, path: str = "/metrics") -> dict[str, object]:
    return {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [target]}]}


def _probe(job: str, module: str, target: str) -> dict[str, object]:
    """A blackbox probe: Prometheus asks the exporter, and `instance` stays the target."""
    return {
        "job_name": job,
        "metrics_path": "/probe",
        "params": {"module": [module]},
        "static_configs": [{"targets": [target]}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": BLACKBOX},
        ],
    }


def render_prometheus(p: MonitoringParams) -> str:
    scrapes: list[dict[str, object]] = [
        _static(JOBS["prometheus"], f"localhost:{paths.PROMETHEUS_PORT}", "/prometheus/metrics"),
        _static(JOBS["alertmanager"], ALERTMANAGER, "/alertmanager/metrics"),
    ]
    if p.node_exporter:
        scrapes.append(_static(JOBS["node"], p.node_exporter))
    if p.container_exporter:
        scrapes.append(_static(JOBS["containers"], p.container_exporter))
    if p.caddy_metrics:
        scrapes.append(_static(JOBS["caddy"], p.caddy_metrics))
    for target in p.app_metrics:
        address, _, path = target.partition("/")
        scrapes.append(_static(JOBS["app"], address, f"/{path or 'metrics'}"))
    scrapes.append(_probe(JOBS["http"], MODULES["http"], p.app_health_url))
    if p.relay_probe:
        scrapes.append(_probe(JOBS["relay"], MODULES["relay"], p.relay_probe))
    if p.mail_host:
        scrapes.append(_probe(JOBS["dns"], MODULES["dns"], p.resolver))
    config = {
        "global": {
            "scrape_interval": p.scrape_interval,
            "evaluation_interval": p.evaluation_interval,
            # Sent with every alert: what the inhibition rules and emails group by.
            "external_labels": {"host": p.host},
        },
        "rule_files": [paths.PROMETHEUS_RULES],
        "alerting": {
            "alertmanagers": [
                {
                    "path_prefix": paths.PREFIX["alertmanager"],
                    "static_configs": [{"targets": [ALERTMANAGER]}],
                }
            ]
        },
        "scrape_configs": scrapes,
    }
    return yaml.safe_dump(config, sort_keys=False, width=100)
