"""`make forget-host`: a stack whose server is gone can be destroyed or brought up again.

Against the fake `pulumi` of the teardown tests, whose state is the dev
program's, and which fails a destroy that would run a delete script against a
host that is gone, as pulumi-command's dial does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_tools import FakeTools
from tests.unit.test_teardown import REAPED_TYPES, SECRETS, _export, deployed  # noqa: F401
from tools.harness import ROOT
from tools.teardown import remote_steps


@pytest.fixture
def tools(tmp_path: Path, deployed: list[dict[str, Any]]) -> FakeTools:  # noqa: F811
    tools = FakeTools.create(tmp_path / "fakes")
    tools.update(stacks=["dev", "prod"], deployments={"dev": deployed}, gone=[])
    return tools


def _forget(tools: FakeTools, stack: str = "dev") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.forget_host", f"--stack={stack}"],
        env=tools.env(**SECRETS), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _destroy(tools: FakeTools) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", "destroy", "--stack", "dev", "--yes"],
        env=tools.env(**SECRETS), cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip


def test_with_the_server_gone_the_steps_go_unrun_and_destroy_completes(
    tools: FakeTools,
    deployed: list[dict[str, Any]],  # noqa: F811
) -> None:
    tools.update(gone=[r["urn"] for r in deployed if r["type"] in REAPED_TYPES])
    assert "i/o timeout" in _destroy(tools).stderr  # what happens without it
    result = _forget(tools)
    assert result.returncode == 0, result.stderr
    dropped = [a[-1] for a in tools.argvs() if a[:2] == ["state", "delete"]]
    assert dropped == remote_steps(_export(deployed))  # all of them, dependents first
    assert dropped
    assert _destroy(tools).returncode == 0


def test_while_the_server_is_there_nothing_is_dropped(tools: FakeTools) -> None:
    result = _forget(tools)
    assert result.returncode == 2
    assert "still has its server after a refresh" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [a for a in tools.argvs() if a[:2] == ["state", "delete"]]


@pytest.mark.parametrize("stack", ["dev;rm -rf /", "-dev", "dev\n", ""])
def test_a_hostile_stack_name_reaches_no_command(tools: FakeTools, stack: str) -> None:
    result = _forget(tools, stack)
    assert result.returncode == 2
    assert "is not a stack name" in result.stderr
    assert tools.argvs() == []


def test_without_the_cli_it_says_what_to_install(tools: FakeTools) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.forget_host", "--stack", "dev", "--pulumi", "/nonexistent"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "is not installed or not on PATH" in result.stderr
