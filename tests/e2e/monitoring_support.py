"""Run the rendered monitoring stack on the local engine (e2e tests and bench).

The local stack with `localMonitoring` on, deployed by the same ComposeProject,
with Prometheus, Alertmanager, blackbox_exporter and cAdvisor from stand-ins
built from Debian's packages (`mailstack-standin/...`, swapped in for the
official images; cAdvisor from bullseye's package). cAdvisor is on as on a
server (locally it is off). Grafana has no Debian package: it does not run here.

The relay and DNS probes run against local targets: the mail sink (the local
stack's relay) offers STARTTLS with a certificate from a throwaway CA
(tests/e2e/testca.py) that blackbox_exporter is given as its only trusted
root, and the mail host resolved is the sink's name, asked of Docker's
embedded DNS server, the resolver every container here uses.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from common.layout import HostLayout
from components.host import Host
from components.monitoring.params import Thresholds
from components.services import kinds, monitoring, project
from components.services.deploy import ComposeProject
from components.services.kinds import (
    MAIL_SINK_NAME,
    MAIL_SINK_SMTP_PORT,
    NODE_EXPORTER_NAME,
    NODE_EXPORTER_PORT,
)
from components.services.model import Mount, Service
from mailstack.config import load_config
from mailstack.wiring import services_args
from tests.e2e.localstack import LocalStack
from tests.e2e.test_metrics_endpoint import _without_propagation
from tests.e2e.testca import Issued, issue

MONITORING = ("prometheus", "alertmanager", "blackbox", "cadvisor")
"""The monitoring services that run here (no Grafana: no Debian package)."""


def textfiles(root: Path) -> Path:
    """A textfile directory with a successful backup's gauges, as the backups leave it."""
    directory = root / "textfiles"
    directory.mkdir(mode=0o755, exist_ok=True)
    # A fresh success: BackupStale stays silent.
    (directory / "mailstack_backup.prom").write_text(BACKUP_METRICS.format(now=int(time.time())))
    (directory / "mailstack_backup.prom").chmod(0o644)
    return directory


DOCKER_DNS = "127.0.0.11:53"
"""Docker's embedded DNS server, in every container on a user-defined network."""
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"
"""Where Go (blackbox_exporter) reads the system's trusted roots on Debian."""
SINK_CERT, SINK_KEY = "/run/tls/cert.pem", "/run/tls/key.pem"


def certificates(root: Path) -> Issued:
    """The mail sink's certificate for its compose name, from a new throwaway CA."""
    return issue(root / "tls", MAIL_SINK_NAME)


SCRAPE_INTERVAL = EVALUATION_INTERVAL = GROUP_WAIT = "5s"
GROUP_INTERVAL = "10s"
"""Short intervals, so the alert path runs in a minute rather than ten."""
APP_DOWN_FOR = "30s"


BACKUP_METRICS = """\
# TYPE mailstack_backup_last_success_timestamp_seconds gauge
mailstack_backup_last_success_timestamp_seconds {now}
# TYPE mailstack_backup_last_duration_seconds gauge
mailstack_backup_last_duration_seconds 42
# TYPE mailstack_backup_max_age_seconds gauge
mailstack_backup_max_age_seconds 93600
# TYPE mailstack_backup_check_last_success_timestamp_seconds gauge
mailstack_backup_check_last_success_timestamp_seconds {now}
"""
"""What the backups write to the textfile directory (assets/backup/mailstack-backup),
`{now}` the time of the last success."""


def program(
    textfiles: Path, admin_cidrs: tuple[str, ...] | None = None, fast: bool = True
) -> Callable[[], None]:
    """The local stack's program with a server's host monitoring (node_exporter
    reading `textfiles`, as in test_metrics_endpoint, and cAdvisor) and the
    test's intervals."""

    def run() -> None:
        host = Host("local", connection=None, layout=HostLayout.for_stack("local", "build/local"))
        args = services_args(load_config(), host)
        alerting = args.stack.alerting
        assert alerting is not None, "synth with localMonitoring=True"
        alerting = replace(
            alerting,
            node_exporter=f"{NODE_EXPORTER_NAME}:{NODE_EXPORTER_PORT}",
            container_exporter=f"cadvisor:{monitoring.CADVISOR_PORT}",
            relay_probe=f"{MAIL_SINK_NAME}:{MAIL_SINK_SMTP_PORT}",
            mail_host=MAIL_SINK_NAME,
            resolver=DOCKER_DNS,
        )
        if fast:
            alerting = replace(
                alerting,
                scrape_interval=SCRAPE_INTERVAL,
                evaluation_interval=EVALUATION_INTERVAL,
                group_wait=GROUP_WAIT,
                group_interval=GROUP_INTERVAL,
                thresholds=Thresholds(app_down_for=APP_DOWN_FOR),
            )
        params = replace(
            args.stack, alerting=alerting, monitoring=True, textfile_dir=str(textfiles)
        )
        if admin_cidrs is not None:
            params = replace(params, admin_cidrs=admin_cidrs)
        ComposeProject("services", replace(args, stack=params))

    return run


def _sink_with_starttls(tls: Issued) -> Service:
    """The mail sink as rendered, offering STARTTLS with the test certificate."""
    sink = SINK()
    return replace(
        sink,
        environment={
            **sink.environment,
            "MP_SMTP_TLS_CERT": SINK_CERT,
            "MP_SMTP_TLS_KEY": SINK_KEY,
        },
        mounts=(
            *sink.mounts,
            Mount(str(tls.cert), SINK_CERT, read_only=True),
            Mount(str(tls.key), SINK_KEY, read_only=True),
        ),
    )


def _monitoring_trusting(tls: Issued, *args: Any, **kwargs: Any) -> monitoring.Monitoring:
    """The monitoring services as rendered, without Grafana (it cannot run here),
    blackbox_exporter trusting the test CA alone."""
    built = monitoring.build_monitoring(*args, **{**kwargs, "grafana_on": False})
    trust = Mount(str(tls.ca), SYSTEM_ROOTS, read_only=True)
    services = tuple(
        replace(s, mounts=(*s.mounts, trust)) if s.name == "blackbox" else s for s in built.services
    )
    return replace(built, services=services)


SINK = kinds.mail_sink


@contextmanager
def standins(tls: Issued) -> Iterator[None]:
    """The services as rendered with the test's TLS targets (above); the stand-in
    images come from the stand-in mirror that LocalStack renders with (`STANDIN_CONFIG`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(project, "build_monitoring", partial(_monitoring_trusting, tls))
        patch.setattr(kinds, "node_exporter", _without_propagation)
        patch.setattr(kinds, "mail_sink", partial(_sink_with_starttls, tls))
        yield


def query(stack_: LocalStack, promql: str) -> list[dict[str, Any]]:
    """An instant query through the proxy's admin-only /prometheus path."""
    path = "/prometheus/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    status, _, body = stack_.get(path)
    assert status == 200, (status, body[:300])
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll until `check()` returns something truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {check}")
        time.sleep(interval)
