"""Run the rendered monitoring stack on the local engine (e2e tests and bench).

The local stack with `localMonitoring` on, deployed by the same ComposeProject,
with Prometheus, Alertmanager and blackbox_exporter from stand-ins built from
Debian's packages (`mailstack-standin/...`, swapped in for the official
images). Grafana and cAdvisor have no Debian package, so they do not run here;
locally cAdvisor is off anyway.
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
from components.services.kinds import NODE_EXPORTER_NAME, NODE_EXPORTER_PORT
from mailstack.config import load_config
from mailstack.wiring import services_args
from tests.e2e.localstack import LocalStack
from tests.e2e.test_metrics_endpoint import _without_propagation

MONITORING = ("prometheus", "alertmanager", "blackbox")
"""The monitoring services that run here (no Grafana, no cAdvisor: no Debian package)."""


def textfiles(root: Path) -> Path:
    """A textfile directory with a successful backup's gauges, as the backups leave it."""
    directory = root / "textfiles"
    directory.mkdir(mode=0o755, exist_ok=True)
    # A fresh success: BackupStale stays silent.
    (directory / "mailstack_backup.prom").write_text(BACKUP_METRICS.format(now=int(time.time())))
    (directory / "mailstack_backup.prom").chmod(0o644)
    return directory


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
    reading `textfiles`, as in test_metrics_endpoint) and the test's intervals."""

    def run() -> None:
        host = Host("local", connection=None, layout=HostLayout.for_stack("local", "build/local"))
        args = services_args(load_config(), host)
        alerting = args.stack.alerting
        assert alerting is not None, "synth with localMonitoring=True"
        alerting = replace(alerting, node_exporter=f"{NODE_EXPORTER_NAME}:{NODE_EXPORTER_PORT}")
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


@contextmanager
def standins() -> Iterator[None]:
    """No Grafana (it cannot run here); the stand-in images come from the stand-in
    mirror that LocalStack renders with (`STANDIN_CONFIG`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            project, "build_monitoring", partial(monitoring.build_monitoring, grafana_on=False)
        )
        patch.setattr(kinds, "node_exporter", _without_propagation)
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
