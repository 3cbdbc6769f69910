"""The whole program evaluates for every committed stack under mocks."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, RunStack
from tools.harness import Run


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_evaluates_and_exports_its_environment(
    stack_runs: dict[str, Run], stack: str
) -> None:
    run = stack_runs[stack]
    assert run.outputs["environment"] == stack
    assert run.outputs["target"] == ("local" if stack == "local" else "hetzner")


def test_servers_with_backups_export_the_backup_health_url(stack_runs: dict[str, Run]) -> None:
    assert stack_runs["prod"].outputs["backupHealthUrl"] == "https://app.example.com/healthz/backup"
    assert "backupHealthUrl" not in stack_runs["local"].outputs


def test_servers_with_monitoring_export_the_metrics_url(
    stack_runs: dict[str, Run], run_stack: RunStack
) -> None:
    assert stack_runs["prod"].outputs["metricsUrl"] == "https://app.example.com/metrics"
    assert "metricsUrl" not in stack_runs["local"].outputs
    assert "metricsUrl" not in run_stack("dev", set={"monitoring": False}).outputs
