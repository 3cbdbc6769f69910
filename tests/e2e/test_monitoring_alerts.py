"""The monitoring stack end to end: admin-only, unpublished, and an alert email
that really arrives in the mail sink when the app stops, and a resolved one
when it is back.

The tests share one running stack and run in file order: first from an
address that is not an admin's, then from one that is.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from components.monitoring.dashboards import DASHBOARDS
from components.monitoring.params import duration
from components.monitoring.rules import JOBS
from tests.e2e.images.build import build_all
from tests.e2e.localstack import LocalStack
from tests.e2e.monitoring_support import (
    APP_DOWN_FOR,
    EVALUATION_INTERVAL,
    GROUP_INTERVAL,
    GROUP_WAIT,
    MONITORING,
    SCRAPE_INTERVAL,
    program,
    query,
    standins,
    textfiles,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOBODY = "192.0.2.0/24"
"""TEST-NET-1: an admin CIDR no client here connects from."""
ADMIN_PATHS = (
    "/prometheus/-/ready",
    "/prometheus/api/v1/query?query=up",
    "/prometheus/api/v1/rules",
    "/alertmanager/-/ready",
    "/alertmanager/api/v2/alerts",
)
"""Grafana does not run here (no Debian package); tests/unit/test_monitoring_services.py
shows `/grafana*` is among the same admin paths."""


def seconds(value: str) -> float:
    """A simple Prometheus duration (`30s`, `5m`) in seconds."""
    duration(value, "duration")
    units = {"s": 1, "m": 60, "h": 3600}
    return float(value[:-1]) * units[value[-1]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    build_all()
    root = tmp_path_factory.mktemp("monitoring-e2e")
    stack = LocalStack(
        root, project="mailstack-e2e-monitoring", http_port=18680, mail_ui_port=18625, settings={}
    )
    with standins():
        stack.down(volumes=True)
        stack.synth(program(textfiles(root), (NOBODY,)), localMonitoring=True)
        try:
            stack.up()
            yield stack
        finally:
            stack.down(volumes=True)


def _edge_gateway(stack: LocalStack) -> str:
    out = subprocess.run(
        ["docker", "network", "inspect", f"{stack.project}_edge"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    gateway: str = json.loads(out)[0]["IPAM"]["Config"][0]["Gateway"]
    return gateway


def _messages(stack: LocalStack) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.mail_ui_port}/api/v1/messages"
    with urllib.request.urlopen(url, timeout=5) as response:
        listing: list[dict[str, Any]] = json.load(response)["messages"]
    return listing


def _subjects(stack: LocalStack, prefix: str) -> list[str]:
    return [m["Subject"] for m in _messages(stack) if m["Subject"].startswith(prefix)]


def test_monitoring_services_are_healthy_internal_and_unpublished(stack: LocalStack) -> None:
    for name in MONITORING:
        (container,) = stack.containers(name)
        assert container["State"]["Health"]["Status"] == "healthy", name
        host = container["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"], name
        assert not host["PortBindings"] and not container["NetworkSettings"]["Ports"], name
        assert list(container["NetworkSettings"]["Networks"]) == [f"{stack.project}_internal"]
    # Only the proxy publishes anything, and only on loopback.
    published = {
        s: c["HostConfig"]["PortBindings"]
        for s in stack.services()
        for c in stack.containers(s)
        if c["HostConfig"]["PortBindings"]
    }
    assert set(published) == {"proxy"}
    bindings = [b for ports in published["proxy"].values() for b in ports]
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_no_monitoring_endpoint_answers_a_non_admin_address(stack: LocalStack) -> None:
    for path in ADMIN_PATHS:
        assert stack.get(path)[::2] == (403, b"Forbidden"), path
        # The check is on the connection's address, not on what the client claims.
        status, _, _ = stack.get(path, headers={"X-Forwarded-For": "192.0.2.10"})
        assert status == 403, path
    assert stack.get("/")[0] == 200


def test_an_admin_address_reaches_prometheus_and_alertmanager(stack: LocalStack) -> None:
    with standins():
        admin = (f"{_edge_gateway(stack)}/32",)
        stack.synth(program(textfiles(stack.root), admin), localMonitoring=True)
    stack.deploy("proxy")
    assert stack.get("/prometheus/-/ready")[0] == 200
    assert stack.get("/alertmanager/-/ready")[0] == 200
    # Every target is scraped: Prometheus, Alertmanager, the proxy and the probe.
    up = wait_for(lambda: [r for r in query(stack, "up") if r["value"][1] == "1"], 60)
    assert {r["metric"]["job"] for r in up} >= {
        "prometheus",
        "alertmanager",
        "caddy",
        "app-health",
        "node",
    }


def test_every_dashboard_query_returns_data_where_its_source_runs(stack: LocalStack) -> None:
    """Every panel query whose scrape job runs here returns data. Not here:
    cAdvisor (no Debian package; off locally), the relay and DNS probes and
    the app's send counters (no relay, no resolver, no preset exports them
    locally), and certificate expiry (plain HTTP locally)."""
    jobs = {r["metric"]["job"] for r in query(stack, "up == 1")}
    queries = [q for spec in DASHBOARDS for panel in spec.panels for q in panel.queries]
    here = [q for q in queries if q.job in jobs and not q.tls]
    absent = {q.job for q in queries if q.job not in jobs}
    assert absent == {JOBS["containers"], JOBS["relay"], JOBS["dns"], JOBS["app"]}
    assert [q.job for q in queries if q.tls] == [JOBS["http"]]
    print(f"\n{len(here)} of {len(queries)} dashboard queries evaluated here")
    for q in here:
        # rate() needs two samples in its window: allow a few scrapes.
        wait_for(lambda q=q: query(stack, q.expr), 60)  # type: ignore[misc]


def test_an_alert_email_arrives_when_the_app_stops_and_a_resolved_one_when_it_is_back(
    stack: LocalStack, record_property: Any
) -> None:
    wait_for(lambda: query(stack, 'probe_success{job="app-health"} == 1'), 60)
    assert not _subjects(stack, "[FIRING:1] AppDown")
    scrape, evaluation = seconds(SCRAPE_INTERVAL), seconds(EVALUATION_INTERVAL)
    group_wait, group_interval = seconds(GROUP_WAIT), seconds(GROUP_INTERVAL)

    stack.compose("stop", "app")
    stopped = time.monotonic()
    # The rule's `for` plus two evaluation intervals, plus what the pipeline
    # adds before and after it: the next scrape that sees the failure and
    # Alertmanager's wait for more alerts of the group.
    fire_budget = seconds(APP_DOWN_FOR) + 2 * evaluation + scrape + group_wait
    firing = wait_for(lambda: _subjects(stack, "[FIRING:1] AppDown"), fire_budget)
    fired_after = time.monotonic() - stopped
    assert "mailstack-local" in firing[0]
    (message,) = [m for m in _messages(stack) if m["Subject"] == firing[0]]
    assert message["To"] == [{"Name": "", "Address": "postmaster@mailstack.localhost"}]

    stack.compose("start", "app")
    wait_for(lambda: stack.containers("app")[0]["State"]["Health"]["Status"] == "healthy", 120)
    healthy = time.monotonic()
    budget = scrape + 2 * evaluation + group_interval
    wait_for(lambda: _subjects(stack, "[RESOLVED] AppDown"), budget)
    resolved_after = time.monotonic() - healthy
    record_property("alert_email_seconds", round(fired_after, 1))
    record_property("resolved_email_seconds", round(resolved_after, 1))
    print(
        f"\nAppDown email {fired_after:.1f} s after the stop (budget {fire_budget:.0f} s); "
        f"resolved email {resolved_after:.1f} s after the app was healthy again"
    )
