"""The monitoring stack end to end: admin-only, unpublished, probes that
succeed against real local targets (SMTP + STARTTLS, DNS), the dashboards'
queries returning data, and an alert email that really arrives in the mail
sink when the app stops, and a resolved one when it is back.

The tests share one running stack and run in file order: first from an
address that is not an admin's, then from one that is.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
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
    certificates,
    program,
    query,
    standins,
    textfiles,
    wait_for,
)
from tests.prometheus_clock import FIRING, failing_run, first_probe, samples

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
    with standins(certificates(root)):
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
    with standins(certificates(stack.root)):
        admin = (f"{_edge_gateway(stack)}/32",)
        stack.synth(program(textfiles(stack.root), admin), localMonitoring=True)
    stack.deploy("proxy")
    assert stack.get("/prometheus/-/ready")[0] == 200
    assert stack.get("/alertmanager/-/ready")[0] == 200
    # Every target is scraped: Prometheus, Alertmanager, the proxy and the probe.
    expected = {"prometheus", "alertmanager", "caddy", "app-health", "node"}

    def scraped() -> set[str]:
        # Up in any scrape of the last minute: the first scrape after the proxy
        # was redeployed may still be the failed one.
        return {r["metric"]["job"] for r in query(stack, "max_over_time(up[1m]) == 1")}

    wait_for(lambda: scraped() >= expected, 120)
    assert scraped() >= expected


NOT_EVALUATED = {
    JOBS["app"]: "no app exports the send counters: listmonk and MailWizz have no such "
    "metrics, the other presets run the user's image, and no config key names an app "
    "metrics endpoint (the wiring sets none), so the app job is never scraped",
}
"""Scrape jobs whose dashboard queries cannot return data here, and why."""
TLS_NOT_EVALUATED = (
    "the local stack's proxy serves plain HTTP: the health probe reads no certificate"
)


def test_the_relay_and_dns_probes_succeed_against_their_local_targets(stack: LocalStack) -> None:
    # STARTTLS with a certificate verified against the test CA, and an A answer.
    for job in (JOBS["relay"], JOBS["dns"]):
        wait_for(lambda job=job: query(stack, f'probe_success{{job="{job}"}} == 1'), 60)  # type: ignore[misc]
    (tls,) = query(stack, f'probe_ssl_earliest_cert_expiry{{job="{JOBS["relay"]}"}}')
    assert float(tls["value"][1]) > time.time()


def test_every_dashboard_query_returns_data_where_its_source_runs(stack: LocalStack) -> None:
    """Every panel query whose scrape job runs here returns data; those that
    cannot are the ones named in NOT_EVALUATED and TLS_NOT_EVALUATED."""
    # Up in any scrape of the last two minutes: one slow scrape under load is
    # not a job that never runs here.
    jobs = {r["metric"]["job"] for r in query(stack, "max_over_time(up[2m]) == 1")}
    queries = [q for spec in DASHBOARDS for panel in spec.panels for q in panel.queries]
    here = [q for q in queries if q.job in jobs and not q.tls]
    assert {q.job for q in queries if q.job not in jobs} == set(NOT_EVALUATED)
    assert [q.job for q in queries if q.tls] == [JOBS["http"]], TLS_NOT_EVALUATED
    print(f"\n{len(here)} of {len(queries)} dashboard queries evaluated here")
    for q in here:
        # rate() needs two samples in its window: allow a few scrapes.
        # cAdvisor's values change every housekeeping (30 s).
        wait_for(lambda q=q: query(stack, q.expr), 120)  # type: ignore[misc]


def _arrived(stack: LocalStack, subject: str) -> tuple[str, float]:
    """The first message whose subject starts with `subject`, and when the sink received it."""
    message = next(m for m in reversed(_messages(stack)) if m["Subject"].startswith(subject))
    return message["Subject"], datetime.datetime.fromisoformat(message["Created"]).timestamp()


PROBE = f'probe_success{{job="{JOBS["http"]}"}}'
PATIENCE = 4
"""How many times its budget the test waits for an email before it gives up.
The budgets are checked on the stack's own timestamps (see below), so a slow
test process only makes it poll later, never pass or fail differently."""


def test_an_alert_email_arrives_when_the_app_stops_and_a_resolved_one_when_it_is_back(
    stack: LocalStack, record_property: Any
) -> None:
    """The rule's latency is measured from the moment Prometheus had the first
    result of the run of failed probes the alert rests on (that scrape's
    timestamp plus its duration, both as Prometheus stored them; a probe that
    outlives its scrape timeout cuts the run and restarts `for`, which is the
    rule working, so such runs are counted and reported) to the alert's first
    `firing` sample, and must be within the rule's `for` plus two evaluation intervals;
    its resolution must come at the first evaluation after the probe sees the
    app again. Those timestamps are all Prometheus's own: a loaded test machine
    delays the polling, not the clock readings.

    The emails are asserted to arrive, and after the state change they report;
    how long Alertmanager, the relay and the sink take to deliver them
    (group_wait plus delivery) is measured and reported, not asserted: on a
    loaded machine delivery is wall-clock time (CI once took 55 s against a
    45 s bound while the rule kept its budget). The time until the probe
    notices (the next scrape after the stop, and the probe itself) is also
    reported only."""
    wait_for(lambda: query(stack, f"{PROBE} == 1"), 60)
    assert not _subjects(stack, "[FIRING:1] AppDown")
    evaluation, group_wait = seconds(EVALUATION_INTERVAL), seconds(GROUP_WAIT)
    rule_budget = seconds(APP_DOWN_FOR) + 2 * evaluation

    stopping = time.time()
    stack.compose("stop", "app")
    wait_for(lambda: _subjects(stack, "[FIRING:1] AppDown"), PATIENCE * (rule_budget + group_wait))
    prometheus = partial(query, stack)
    fired = next(ts for ts, v in samples(prometheus, FIRING, stopping) if v == "1")
    probed, _ = first_probe(prometheus, JOBS["http"], "0", stopping)
    began, down, cut = failing_run(
        prometheus, JOBS["http"], stopping, fired, seconds(SCRAPE_INTERVAL)
    )
    subject, mailed = _arrived(stack, "[FIRING:1] AppDown")
    assert "mailstack-local" in subject
    (message,) = [m for m in _messages(stack) if m["Subject"] == subject]
    assert message["To"] == [{"Name": "", "Address": "postmaster@mailstack.localhost"}]
    assert fired - down <= rule_budget, (fired - down, rule_budget)
    assert mailed >= fired, "the email reports a firing Prometheus had not evaluated yet"

    starting = time.time()
    stack.compose("start", "app")
    # Resolved at the first evaluation that reads the probe's success, sent at
    # Alertmanager's next group flush.
    resolve_budget = 2 * evaluation + seconds(GROUP_INTERVAL)
    wait_for(lambda: _subjects(stack, "[RESOLVED] AppDown"), 120 + PATIENCE * resolve_budget)
    _, up = first_probe(prometheus, JOBS["http"], "1", starting)
    last_firing = max(ts for ts, v in samples(prometheus, FIRING, stopping) if v == "1")
    # The evaluation after the last firing one read the probe's success. An
    # evaluation that began while the successful scrape was still running saw
    # the failure, so the last firing sample may come up to one interval after
    # `up`, never more.
    assert last_firing - up <= evaluation, (last_firing - up, evaluation)
    _, resolved = _arrived(stack, "[RESOLVED] AppDown")
    assert resolved >= last_firing, "the resolved email came before Prometheus resolved"

    latencies = {
        "probe_down_after_stop_seconds": probed - stopping,
        "probe_down_seen_after_stop_seconds": down - stopping,
        "interrupted_failing_runs": cut,
        "firing_after_down_seconds": fired - down,
        "alert_email_after_down_seconds": mailed - down,
        "alert_email_after_firing_seconds": mailed - fired,
        "alert_email_after_stop_seconds": mailed - stopping,
        "resolved_email_after_up_seconds": resolved - up,
    }
    for name, value in latencies.items():
        record_property(name, round(value, 1))
    print(
        f"\nAppDown: failing probe began {probed - stopping:.1f} s after `docker stop` began; "
        f"the run the alert rests on began at {began - stopping:.1f} s ({cut} earlier runs cut "
        f"short), its result in Prometheus at {down - stopping:.1f} s; firing "
        f"{fired - down:.1f} s after that (budget {rule_budget:.0f} s = for + 2 evaluations), "
        f"email {mailed - down:.1f} s ({mailed - fired:.1f} s after the firing; group_wait "
        f"{group_wait:.0f} s), "
        f"{mailed - stopping:.1f} s after the stop; resolved email {resolved - up:.1f} s after "
        f"the probe's first success ({resolve_budget:.0f} s would be two evaluations and "
        f"one group interval)"
    )
