"""`make rollback|releases` with fake `pulumi` and `ssh` on PATH: the exact words the
server's shell runs, hostile values refused whole, clear errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ops import FakeOps
from tools.harness import ROOT

OUTPUTS = {"sshCommand": "ssh mailadmin@203.0.113.29", "dataDir": "/srv/mailstack"}
SSH = ["-o", "ConnectTimeout=15", "mailadmin@203.0.113.29", "--"]
IN_COMPOSE_DIR = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "-", "/srv/mailstack/compose"]
RELEASE = [*IN_COMPOSE_DIR, "env", "BACKUP_BIN=/usr/local/sbin", "bash", "mailstack-release"]


def fake_ops(root: Path, outputs: dict[str, str], ssh_rc: int = 0) -> FakeOps:
    fakes = FakeOps.create(root, tools=("pulumi", "ssh"))
    fakes.rule("pulumi", ["stack", "output", "--json", "--stack", "prod"], json.dumps(outputs))
    if ssh_rc:
        fakes.rule("ssh", [], stderr="ssh: connect to host 203.0.113.29: timed out\n", rc=ssh_rc)
    else:
        fakes.rule("ssh", [], stdout="release: app serves release 0123456789ab\n")
    return fakes


@pytest.fixture
def fakes(tmp_path: Path) -> FakeOps:
    return fake_ops(tmp_path / "fakes", OUTPUTS)


def make(fakes: FakeOps, target: str, **values: str) -> subprocess.CompletedProcess[str]:
    argv = ["make", "--no-print-directory", target, f"PY={sys.executable}", "STACK=prod"]
    argv += [f"{k}={v}" for k, v in values.items()]
    return subprocess.run(
        argv, capture_output=True, text=True, env=fakes.env(), cwd=ROOT, stdin=subprocess.DEVNULL
    )


def remote(fakes: FakeOps) -> list[str]:
    """The one remote command, as the words the server's shell parses it into."""
    (call,) = fakes.calls("ssh")
    assert call["argv"][:-1] == SSH
    words = subprocess.run(
        ["sh", "-c", "printf '%s\\0' " + call["argv"][-1]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return words.split("\0")[:-1]


def test_rollback_to_the_release_before_the_current_one(fakes: FakeOps) -> None:
    result = make(fakes, "rollback")
    assert result.returncode == 0, result.stderr
    assert "serves release" in result.stdout
    assert remote(fakes) == [*RELEASE, "rollback", "app", ""]


def test_rollback_to_a_given_release_with_its_database(fakes: FakeOps) -> None:
    assert make(fakes, "rollback", TO="0123456789ab", DB="1", SERVICE="web").returncode == 0
    assert remote(fakes) == [*RELEASE, "rollback", "web", "0123456789ab", "db"]


def test_releases_lists_the_history(fakes: FakeOps) -> None:
    assert make(fakes, "releases").returncode == 0
    assert remote(fakes) == [*RELEASE, "history", "app"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"TO": "0123456789ab; id"}, "TO '0123456789ab; id' is not valid"),
        ({"TO": "0123456789ab\n"}, "is not valid"),
        ({"TO": "$(id)"}, "is not valid"),
        ({"TO": "0123456789AB"}, "is not valid"),
        ({"TO": "0123456789abc"}, "is not valid"),
        ({"TO": "--help"}, "is not valid"),
        ({"SERVICE": "app;id"}, "SERVICE 'app;id' is not valid"),
        ({"DB": "yes"}, "DB must be 1"),
        ({"STACK": "prod;id"}, "STACK 'prod;id' is not valid"),
    ],
)
def test_hostile_values_are_refused_before_anything_runs(
    fakes: FakeOps, values: dict[str, str], message: str
) -> None:
    result = make(fakes, "rollback", **values)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert fakes.calls("ssh") == []


def test_a_stack_without_a_server_is_a_clear_error(tmp_path: Path) -> None:
    fakes = fake_ops(tmp_path, {"appUrl": "http://localhost:8080"})
    result = make(fakes, "rollback")
    assert result.returncode == 2
    assert "has no sshCommand output" in result.stderr and "Traceback" not in result.stderr


def test_missing_pulumi_cli(fakes: FakeOps) -> None:
    result = make(fakes, "rollback", PULUMI=str(fakes.root / "no-such-pulumi"))
    assert result.returncode == 2
    assert "the Pulumi CLI" in result.stderr and "Traceback" not in result.stderr


def test_failed_ssh_is_a_clear_error(tmp_path: Path) -> None:
    fakes = fake_ops(tmp_path, OUTPUTS, ssh_rc=255)
    result = make(fakes, "rollback")
    assert result.returncode != 0
    assert "SSH to mailadmin@203.0.113.29 failed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "template",
    ["$(shell touch {m})", "x'; touch {m}; echo '", "`touch {m}`", "$$(touch {m})", "a\ntouch {m}"],
)
@pytest.mark.parametrize("variable", ["TO", "SERVICE", "DB"])
def test_make_runs_no_shell_from_a_value(
    fakes: FakeOps, tmp_path: Path, template: str, variable: str
) -> None:
    """TO, SERVICE and DB reach Python as raw text: make and the shell never run them."""
    marker = tmp_path / "pwned"
    result = make(fakes, "rollback", **{variable: template.format(m=marker)})
    assert result.returncode != 0
    assert not marker.exists()
    assert fakes.calls("ssh") == []
