"""`make status|logs|exec|ssh` with fake `pulumi` and `ssh` on PATH: the exact
argv, what the server's shell would see, and hostile SERVICE/CMD values."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ops import FakeOps
from tools import day2
from tools.harness import ROOT

OUTPUTS = {
    "sshCommand": "ssh mailadmin@203.0.113.29",
    "dataDir": "/srv/mailstack",
    "appUrl": "https://app.example.com",
}
SSH = ["-o", "ConnectTimeout=15", "mailadmin@203.0.113.29", "--"]
COMPOSE = [
    "sudo", "-n", "docker", "compose", "--project-name", "mailstack-prod",
    "--project-directory", "/srv/mailstack/compose",
    "--file", "/srv/mailstack/compose/compose.yaml",
]  # fmt: skip


@pytest.fixture
def fakes(tmp_path: Path) -> FakeOps:
    fakes = FakeOps.create(tmp_path / "fakes", tools=("pulumi", "ssh"))
    fakes.rule("pulumi", ["stack", "output", "--json", "--stack", "prod"], json.dumps(OUTPUTS))
    fakes.rule("ssh", [], stdout="remote output\n")
    return fakes


def make(fakes: FakeOps, target: str, **values: str) -> subprocess.CompletedProcess[str]:
    """`make <target>` with values on its command line, as an operator types them."""
    argv = ["make", "--no-print-directory", target, f"PY={sys.executable}", "STACK=prod"]
    argv += [f"{k}={v}" for k, v in values.items()]
    return subprocess.run(
        argv, capture_output=True, text=True, env=fakes.env(), cwd=ROOT, stdin=subprocess.DEVNULL
    )


def remote(fakes: FakeOps) -> list[str]:
    """The one remote command, as the words the server's shell parses it into."""
    calls = fakes.calls("ssh")
    assert len(calls) == 1, calls
    argv = calls[0]["argv"]
    assert argv[:-1] == SSH
    # A real shell parses it: printf shows each word the remote shell would run.
    words = subprocess.run(
        ["sh", "-c", "printf '%s\\0' " + argv[-1]], capture_output=True, text=True, check=True
    ).stdout
    return words.split("\0")[:-1]


def test_status_runs_compose_ps_for_the_stack_project(fakes: FakeOps) -> None:
    result = make(fakes, "status")
    assert result.returncode == 0, result.stderr
    assert "remote output" in result.stdout
    assert fakes.calls("pulumi")[0]["argv"] == ["stack", "output", "--json", "--stack", "prod"]
    assert remote(fakes) == [*COMPOSE, "ps", "--all"]


def test_logs_of_one_service(fakes: FakeOps) -> None:
    assert make(fakes, "logs", SERVICE="app", TAIL="50").returncode == 0
    assert remote(fakes) == [*COMPOSE, "logs", "--timestamps", "--tail", "50", "app"]


def test_logs_of_every_service(fakes: FakeOps) -> None:
    assert make(fakes, "logs").returncode == 0
    assert remote(fakes) == [*COMPOSE, "logs", "--timestamps", "--tail", "200"]


@pytest.mark.parametrize(
    "command",
    [
        "psql -U listmonk -c 'select 1; drop table subscribers'",
        "sh -c 'echo $(id) `id` $HOME; touch /tmp/pwned'",
        'echo "it\'s" \\$PATH > /tmp/x',
    ],
)
def test_exec_passes_cmd_words_intact(fakes: FakeOps, command: str) -> None:
    result = make(fakes, "exec", SERVICE="db", CMD=command)
    assert result.returncode == 0, result.stderr
    assert remote(fakes) == [*COMPOSE, "exec", "-T", "db", *shlex.split(command)]


@pytest.mark.parametrize(
    "service",
    ["app; id", "$(id)", "app db", "-h", "../app", "App", "app\n", "a" * 64],
)
def test_hostile_service_is_refused_before_anything_runs(fakes: FakeOps, service: str) -> None:
    result = make(fakes, "exec", SERVICE=service, CMD="sh")
    assert result.returncode != 0
    assert "SERVICE" in result.stderr and "is not valid" in result.stderr
    assert "Traceback" not in result.stderr
    assert fakes.calls("ssh") == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SERVICE": "db", "CMD": "psql\nid"}, "one line"),
        ({"SERVICE": "db", "CMD": "echo 'unclosed"}, "does not parse"),
        ({"SERVICE": "db"}, "exec needs CMD"),
        ({"CMD": "sh"}, "exec needs SERVICE"),
        ({"STACK": "prod;id", "SERVICE": "db", "CMD": "sh"}, "STACK 'prod;id' is not valid"),
    ],
)
def test_bad_exec_values_are_clear_errors(
    fakes: FakeOps, values: dict[str, str], message: str
) -> None:
    result = make(fakes, "exec", **values)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert fakes.calls("ssh") == []


def test_ssh_opens_a_shell_with_the_stack_ssh_command(fakes: FakeOps) -> None:
    assert make(fakes, "ssh").returncode == 0
    assert [c["argv"] for c in fakes.calls("ssh")] == [SSH[:-1]]


def test_missing_pulumi_cli(fakes: FakeOps) -> None:
    result = make(fakes, "status", PULUMI=str(fakes.root / "no-such-pulumi"))
    assert result.returncode != 0
    assert "the Pulumi CLI" in result.stderr and "Traceback" not in result.stderr


def test_missing_stack(fakes: FakeOps) -> None:
    fakes.rule("pulumi", ["stack", "output"], stderr="error: no stack named 'nope' found\n", rc=255)
    result = make(fakes, "status", STACK="nope")
    assert result.returncode != 0
    assert "no stack named 'nope' found" in result.stderr and "Traceback" not in result.stderr


def test_stack_without_a_server(fakes: FakeOps) -> None:
    fakes.rule("pulumi", ["stack", "output", "--json", "--stack", "local"], json.dumps({"x": 1}))
    result = make(fakes, "status", STACK="local")
    assert result.returncode != 0
    assert "no sshCommand output" in result.stderr and "Traceback" not in result.stderr


def test_ssh_refused(fakes: FakeOps, tmp_path: Path) -> None:
    state = json.loads(fakes.state_file.read_text())
    state["ssh"] = [{"prefix": [], "stderr": "Connection timed out\n", "rc": 255}]
    fakes.state_file.write_text(json.dumps(state))
    result = make(fakes, "status")
    assert result.returncode != 0
    assert "adminCidrs" in result.stderr and "Traceback" not in result.stderr


def test_ssh_missing(
    fakes: FakeOps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (fakes.bin / "ssh").unlink()
    for key, value in fakes.env(path=str(fakes.bin)).items():
        monkeypatch.setenv(key, value)
    status = day2.main(["--stack", "prod", "--pulumi", str(fakes.bin / "pulumi"), "status"])
    assert status == 2
    assert "ssh is not installed" in capsys.readouterr().err


@pytest.mark.parametrize("variable", ["SERVICE", "CMD", "TAIL"])
def test_make_never_expands_a_value_into_a_command(
    fakes: FakeOps, tmp_path: Path, variable: str
) -> None:
    """make exports command-line variables to recipes, expanding them: these are unexported."""
    marker = tmp_path / "pwned"
    values = {"SERVICE": "db", "CMD": "sh", variable: f"$(shell touch {marker})"}
    make(fakes, "exec" if variable != "TAIL" else "logs", **values)
    assert not marker.exists()
