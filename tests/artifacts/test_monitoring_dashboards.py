"""The generated Grafana dashboards, checked statically (Grafana cannot run here):
their structure as Grafana's file provisioning reads it, and every query
parsed by promtool. tests/e2e/test_monitoring_alerts.py evaluates the queries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from components.monitoring.dashboards import DASHBOARDS, render_dashboards
from components.monitoring.grafana import DATASOURCE_UID


def test_the_dashboards_cover_host_containers_http_backups_and_mail() -> None:
    titles = {json.loads(text)["title"] for text in render_dashboards().values()}
    assert titles == {"Host", "Containers", "HTTP and app", "Backups", "Mail sending"}


def test_every_dashboard_is_well_formed_for_provisioning() -> None:
    uids = set()
    for name, text in render_dashboards().items():
        board = json.loads(text)
        assert name == f"{board['uid']}.json"
        assert board["uid"] not in uids and len(board["uid"]) <= 40
        uids.add(board["uid"])
        assert board["schemaVersion"] >= 39 and board["editable"] is False
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            assert panel["type"] == "timeseries" and panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert panel["fieldConfig"]["defaults"]["unit"]
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24
            # No two panels on the same grid cells.
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, (name, panel["title"])
            cells |= area
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(set(refs)) == len(refs) and all(refs)
            assert all(t["expr"] for t in panel["targets"])


def test_the_same_input_renders_the_same_text() -> None:
    """A second deploy with nothing changed must not touch Grafana."""
    assert render_dashboards() == render_dashboards()


def test_every_panel_query_parses_with_promtool(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:{spec.uid.replace('-', '_')}:{i}_{j}", "expr": q.expr}
        for spec in DASHBOARDS
        for i, panel in enumerate(spec.panels)
        for j, q in enumerate(panel.queries)
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
