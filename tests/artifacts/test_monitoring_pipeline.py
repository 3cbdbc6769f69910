"""The alert path with the real programs on loopback, no Docker: Debian's
prometheus, prometheus-alertmanager and prometheus-blackbox-exporter run the
rendered configs (addresses rewritten to loopback ports), a stand-in app
answers /health and an SMTP sink records what Alertmanager sends. The app
stops: AppDown fires within the rule's `for` plus two evaluation intervals of
the failed probe (on Prometheus's own clock, tests/prometheus_clock.py) and
its email arrives; the app is back: the alert resolves at the next evaluation
and a resolved email follows. tests/e2e/test_monitoring_alerts.py does the same
with the containers the compose file runs."""

from __future__ import annotations

import email
import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.monitoring import alertmanager, blackbox, paths, prometheus, rules
from components.monitoring.params import MonitoringParams, SmtpRelay, Thresholds
from components.monitoring.rules import JOBS
from tests.prometheus_clock import FIRING, failing_run, first_probe, samples

pytestmark = pytest.mark.slow

T = TypeVar("T")
FOR, EVALUATION, SCRAPE, GROUP_WAIT, GROUP_INTERVAL = 20, 2, 2, 2, 4


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt: str, *args: object) -> None:
        pass


Mail = list[tuple[str, float]]
"""What the sink received: each message's subject and when it arrived."""


@dataclass
class Pipeline:
    app_port: int
    mail: Mail
    prometheus: str
    app: http.server.HTTPServer | None = None

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            result: list[dict[str, Any]] = json.load(response)["data"]["result"]
            return result

    def arrived(self, subject: str) -> float | None:
        """When the first message whose subject starts with `subject` arrived."""
        return next((at for s, at in self.mail if s.startswith(subject)), None)

    def start_app(self) -> None:
        self.app = http.server.HTTPServer(("127.0.0.1", self.app_port), _Health)
        threading.Thread(target=self.app.serve_forever, daemon=True).start()

    def stop_app(self) -> None:
        assert self.app is not None
        self.app.shutdown()
        self.app.server_close()


def _sink(port: int, mail: Mail) -> socket.socket:
    """A minimal SMTP server: enough of RFC 5321 for Alertmanager's client."""
    server = socket.create_server(("127.0.0.1", port))

    def session(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 sink ESMTP\r\n")
            for raw in lines:
                verb = raw.decode().strip().split(" ")[0].upper()
                if verb == "DATA":
                    conn.sendall(b"354 go on\r\n")
                    body = b""
                    for part in lines:
                        if part in (b".\r\n", b".\n"):
                            break
                        body += part
                    subject = str(email.message_from_bytes(body)["Subject"])
                    mail.append((subject, time.time()))
                    conn.sendall(b"250 queued\r\n")
                elif verb in ("EHLO", "HELO"):
                    conn.sendall(b"250 sink\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=session, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    ports = {n: _port() for n in ("app", "smtp", "blackbox", "alertmanager", "prometheus")}
    p = MonitoringParams(
        host="mailstack-pipeline",
        alert_email="ops@example.com",
        from_address="alerts@example.com",
        relay=SmtpRelay(f"127.0.0.1:{ports['smtp']}", require_tls=False),
        app_health_url=f"http://127.0.0.1:{ports['app']}/health",
        scrape_interval=f"{SCRAPE}s",
        evaluation_interval=f"{EVALUATION}s",
        group_wait=f"{GROUP_WAIT}s",
        group_interval=f"{GROUP_INTERVAL}s",
        thresholds=Thresholds(app_down_for=f"{FOR}s"),
    )
    config = (
        prometheus.render_prometheus(p)
        .replace(paths.PROMETHEUS_RULES, str(tmp_path / "rules.yml"))
        .replace(f"blackbox:{paths.BLACKBOX_PORT}", f"127.0.0.1:{ports['blackbox']}")
        .replace(f"alertmanager:{paths.ALERTMANAGER_PORT}", f"127.0.0.1:{ports['alertmanager']}")
        .replace(f"localhost:{paths.PROMETHEUS_PORT}", f"127.0.0.1:{ports['prometheus']}")
    )
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "rules.yml").write_text(rules.render_rules(p))
    (tmp_path / "alertmanager.yml").write_text(alertmanager.render_alertmanager(p))
    (tmp_path / "blackbox.yml").write_text(blackbox.render_blackbox(p))
    mail: Mail = []
    sink = _sink(ports["smtp"], mail)
    at = "127.0.0.1:{}".format
    commands = [
        [
            "prometheus-blackbox-exporter",
            f"--config.file={tmp_path / 'blackbox.yml'}",
            f"--web.listen-address={at(ports['blackbox'])}",
        ],
        [
            "prometheus-alertmanager",
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.external-url=http://{at(ports['alertmanager'])}/alertmanager/",
            "--web.route-prefix=/alertmanager",
            "--cluster.listen-address=",
            f"--web.listen-address={at(ports['alertmanager'])}",
        ],
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.external-url=http://{at(ports['prometheus'])}/prometheus/",
            "--web.route-prefix=/prometheus",
            f"--web.listen-address={at(ports['prometheus'])}",
        ],
    ]
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands
    ]
    state = Pipeline(ports["app"], mail, f"http://{at(ports['prometheus'])}/prometheus")
    state.start_app()
    try:
        url = f"http://{at(ports['prometheus'])}/prometheus/api/v1/query?query=probe_success%3D%3D1"
        _wait(lambda: _result(url), 60)
        yield state
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        sink.close()
        if state.app is not None:
            state.app.server_close()


def _result(url: str) -> list[object]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http on loopback)
            result: list[object] = json.load(response)["data"]["result"]
            return result
    except OSError:
        return []


def _wait(check: Callable[[], T | None], timeout: float) -> T:
    """`check()`'s first truthy value; raises after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(0.2)
    return value


PATIENCE = 4
"""How many times its budget the test waits for an email before it gives up: the
budgets are asserted on Prometheus's timestamps, so waiting longer changes no
verdict, only how long a loaded machine may take to deliver."""


def test_app_down_fires_within_for_plus_two_evaluations_mails_and_resolves(
    pipeline: Pipeline,
) -> None:
    job = JOBS["http"]
    firing_mail = "[FIRING:1] AppDown mailstack-pipeline"
    assert pipeline.arrived(firing_mail) is None
    budget = FOR + 2 * EVALUATION

    stopping = time.time()
    pipeline.stop_app()
    mailed = _wait(lambda: pipeline.arrived(firing_mail), PATIENCE * (budget + GROUP_WAIT))
    fired = next(ts for ts, v in samples(pipeline.query, FIRING, stopping) if v == "1")
    _, down, cut = failing_run(pipeline.query, job, stopping, fired, SCRAPE)
    assert fired - down <= budget, (fired - down, budget)
    assert mailed >= fired, "the email reports a firing Prometheus had not evaluated yet"

    starting = time.time()
    pipeline.start_app()
    resolve_budget = 2 * EVALUATION + GROUP_INTERVAL
    resolved = _wait(lambda: pipeline.arrived("[RESOLVED] AppDown"), PATIENCE * resolve_budget)
    _, up = first_probe(pipeline.query, job, "1", starting)
    last_firing = max(ts for ts, v in samples(pipeline.query, FIRING, stopping) if v == "1")
    # The evaluation after the last firing one read the probe's success; one that
    # began while that scrape was still running saw the failure.
    assert last_firing - up <= EVALUATION, (last_firing - up, EVALUATION)
    assert resolved >= last_firing, "the resolved email came before Prometheus resolved"
    print(
        f"\nAppDown firing {fired - down:.1f} s after the failed probe's result (budget "
        f"{budget} s, {cut} earlier failing runs cut short), email {mailed - fired:.1f} s "
        f"after the firing, {mailed - stopping:.1f} s after the stop; resolved email "
        f"{resolved - up:.1f} s after the first good probe"
    )
