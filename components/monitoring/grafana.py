"""Grafana's provisioning: the Prometheus data source and the dashboards folder."""

from __future__ import annotations

import yaml

from components.monitoring import paths

DATASOURCE_UID = "prometheus"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
"""Inside Grafana: where the generated dashboards are mounted (read-only)."""


def render_datasource() -> str:
    source = {
        "name": "Prometheus",
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": f"http://prometheus:{paths.PROMETHEUS_PORT}{paths.PREFIX['prometheus']}",
        "isDefault": True,
        "editable": False,
    }
    return yaml.safe_dump({"apiVersion": 1, "datasources": [source]}, sort_keys=False)


def render_dashboard_provider() -> str:
    provider = {
        "name": "mailstack",
        "type": "file",
        "disableDeletion": True,
        # Generated from Python: edits in the UI would be lost on the next deploy.
        "allowUiUpdates": False,
        "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
    }
    return yaml.safe_dump({"apiVersion": 1, "providers": [provider]}, sort_keys=False)
