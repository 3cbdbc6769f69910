"""The preview, throwaway and comment scripts, run for real against fake `pulumi` and `gh`.

The fakes log every call, so these tests pin the exact commands, stacks and
flags, and prove that prod is never destroyed and that missing secrets skip
with a clear message.
"""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fake_tools import FakeTools
from tools.harness import ROOT

SCRIPTS = ROOT / "scripts"
SECRETS = {
    "PULUMI_BACKEND_URL": "s3://mailstack-state/mailstack?endpoint=fsn1.example&region=fsn1",
    "PULUMI_CONFIG_PASSPHRASE": "correct horse",
}
PREVIEW_FLAGS = ["--diff", "--non-interactive", "--color", "never"]
BOT = {"login": "github-actions[bot]"}  # the author of the job token's comments


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    return FakeTools.create(tmp_path / "fakes")


def run(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/healthz"


def utc_dates_around(days: int) -> set[str]:
    """The expiry a script computed `days` ahead, allowing for a run across midnight."""
    now = datetime.now(UTC)
    return {
        (d + timedelta(days=days)).date().isoformat() for d in (now - timedelta(minutes=5), now)
    }


# --- pr-preview.sh -------------------------------------------------------------


def test_preview_without_secrets_skips_cleanly_and_says_why(
    tools: FakeTools, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    report = tmp_path / "preview.md"
    result = run(
        [str(SCRIPTS / "pr-preview.sh"), str(report)],
        tools.env(GITHUB_STEP_SUMMARY=str(summary), PULUMI_CONFIG_PASSPHRASE="set"),
    )
    assert result.returncode == 0, result.stderr
    assert tools.calls() == []
    message = "pulumi preview skipped: PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE are not set"
    assert message in result.stderr
    assert message in report.read_text()
    assert summary.read_text() == report.read_text()


def test_preview_runs_preview_diff_for_dev_and_prod_only(tools: FakeTools, tmp_path: Path) -> None:
    report = tmp_path / "preview.md"
    result = run([str(SCRIPTS / "pr-preview.sh"), str(report)], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr
    assert tools.argvs() == [
        ["preview", "--stack", "dev", *PREVIEW_FLAGS],
        ["preview", "--stack", "prod", *PREVIEW_FLAGS],
    ]
    assert all(c["backend"] == SECRETS["PULUMI_BACKEND_URL"] for c in tools.calls())
    assert all(c["passphrase"] for c in tools.calls())
    text = report.read_text()
    assert "<code>dev</code>: ok" in text and "preview of dev: + 1 to create" in text
    assert "<code>prod</code>: ok" in text and "preview of prod: + 1 to create" in text


def test_preview_runs_only_the_stacks_it_is_given(tools: FakeTools, tmp_path: Path) -> None:
    """One job per stack, so a job holds only its own stack's passphrase."""
    report = tmp_path / "preview-prod.md"
    result = run([str(SCRIPTS / "pr-preview.sh"), str(report), "prod"], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr
    assert tools.argvs() == [["preview", "--stack", "prod", *PREVIEW_FLAGS]]
    assert "<code>prod</code>: ok" in report.read_text()
    assert "<code>dev</code>" not in report.read_text()


@pytest.mark.parametrize("stack", ["--stack=prod", "-s", "", "Prod"])
def test_preview_refuses_what_is_not_a_stack_name(
    tools: FakeTools, tmp_path: Path, stack: str
) -> None:
    result = run(
        [str(SCRIPTS / "pr-preview.sh"), str(tmp_path / "r.md"), "dev", stack],
        tools.env(**SECRETS),
    )
    assert result.returncode == 2
    assert tools.calls() == []


def test_a_failed_preview_is_reported_and_fails_after_both_ran(
    tools: FakeTools, tmp_path: Path
) -> None:
    tools.update(fail=["preview:dev"])
    report = tmp_path / "preview.md"
    result = run([str(SCRIPTS / "pr-preview.sh"), str(report)], tools.env(**SECRETS))
    assert result.returncode == 1
    assert [a[2] for a in tools.argvs()] == ["dev", "prod"]
    text = report.read_text()
    assert "<code>dev</code>: **failed**" in text and "<code>prod</code>: ok" in text


def test_a_long_preview_is_cut_to_fit_a_comment(tools: FakeTools, tmp_path: Path) -> None:
    tools.update(body="~ update\n" * 2000)
    report = tmp_path / "preview.md"
    result = run(
        [str(SCRIPTS / "pr-preview.sh"), str(report)],
        tools.env(**SECRETS, PREVIEW_MAX_CHARS="1000"),
    )
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert text.count("cut at 1000 characters") == 2
    assert len(text) < 3000
    assert result.stderr.count("~ update") == 4000  # the job log keeps everything


# --- throwaway.sh up ----------------------------------------------------------------


CONFIG_WRITES = [["config", "cp"], ["config", "rm-all"], ["config", "set-all"]]


def test_up_creates_pr_stack_from_dev_labels_deploys_and_smoke_tests(
    tools: FakeTools, health_url: str
) -> None:
    tools.update(outputs={"healthUrl": health_url, "appUrl": "https://app.pr-12.dev.example.com"})
    result = run([str(SCRIPTS / "throwaway.sh"), "up", "pr-12"], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr

    calls = tools.argvs()
    assert calls[:3] == [
        ["stack", "ls", "--json"],
        ["stack", "init", "pr-12", "--secrets-provider", "passphrase", "--non-interactive"],
        ["config", "cp", "--stack", "dev", "--dest", "pr-12"],
    ]
    assert [a[:2] for a in calls[3:5]] == CONFIG_WRITES[1:]
    assert calls[5:] == [
        ["up", "--stack", "pr-12", "--refresh", "--yes", "--non-interactive", "--color", "never"],
        ["stack", "output", "healthUrl", "--stack", "pr-12"],
        ["stack", "output", "appUrl", "--stack", "pr-12"],
    ]
    # What the stack file holds: dev's config, then the throwaway's own.
    config = tools.state["config"]["pr-12"]
    assert config["mailstack:cloudflareZoneId"] == "0123456789abcdef0123456789abcdef"
    assert config["mailstack:domain"] == "pr-12.dev.example.com"
    # dev's admin keys are registered in the Hetzner project already.
    assert config["mailstack:registerSshKeys"] == "false"
    # Its backups never go to dev's repository, nor ping dev's heartbeat.
    assert config["mailstack:backupRepository"] == "/srv/mailstack/backup/restic"
    assert config["mailstack:backupSchedule"] == ""
    assert config["mailstack:backupHeartbeatUrl"] == ""
    assert config["mailstack:expiresAt"] in utc_dates_around(3)
    expires = config["mailstack:expiresAt"]
    assert config["mailstack:serverLabels"] == [
        "mailstack-kind=throwaway",
        "mailstack-stack=pr-12",
        f"mailstack-expires={expires}",
        "mailstack-environment=dev",
    ]
    assert "pr-12" in tools.state["stacks"]
    assert "`pr-12` is up and healthy: https://app.pr-12.dev.example.com" in result.stdout
    assert f"expires: {expires}" in result.stdout
    assert "make destroy STACK=pr-12" in result.stdout
    assert "up of pr-12" not in result.stdout  # pulumi's own output stays on stderr


def test_up_on_an_existing_stack_rewrites_its_config_without_init(
    tools: FakeTools, health_url: str
) -> None:
    stale = [f"old-{i}=x" for i in range(8)]
    tools.update(
        stacks=["dev", "prod", "pr-12"],
        config={"pr-12": {"mailstack:serverLabels": stale, "mailstack:domain": "old.example"}},
        outputs={"healthUrl": health_url, "appUrl": "u"},
    )
    result = run([str(SCRIPTS / "throwaway.sh"), "up", "pr-12"], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr
    assert [a[:2] for a in tools.argvs()] == [
        ["stack", "ls"],
        *CONFIG_WRITES,
        ["up", "--stack"],
        ["stack", "output"],
        ["stack", "output"],
    ]
    # The reaper may have deleted its server meanwhile: the state is refreshed
    # first, so the up creates the server again instead of failing on it.
    (up,) = [a for a in tools.argvs() if a[0] == "up"]
    assert "--refresh" in up
    config = tools.state["config"]["pr-12"]
    assert config["mailstack:domain"] == "pr-12.dev.example.com"
    # No item of the older, longer array is left behind.
    assert [label.split("=")[0] for label in config["mailstack:serverLabels"]] == [
        "mailstack-kind",
        "mailstack-stack",
        "mailstack-expires",
        "mailstack-environment",
    ]


def fake_pulumi(tools: FakeTools, *argv: str) -> subprocess.CompletedProcess[str]:
    return run([str(tools.bin / "pulumi"), *argv], tools.env(**SECRETS))


def test_the_fake_pulumi_refuses_an_array_key_set_as_a_json_string(tools: FakeTools) -> None:
    """As Pulumi does: Pulumi.yaml declares serverLabels `type: array`."""
    tools.update(stacks=["dev", "prod", "pr-12"])
    assert fake_pulumi(tools, "config", "cp", "--stack", "dev", "--dest", "pr-12").returncode == 0
    as_text = 'mailstack:serverLabels=["mailstack-kind=throwaway"]'
    set_all = ["config", "set-all", "--stack", "pr-12", "--plaintext", as_text]
    assert fake_pulumi(tools, *set_all).returncode == 0  # Pulumi takes it here...
    refused = fake_pulumi(tools, "up", "--stack", "pr-12", "--yes")
    assert refused.returncode != 0  # ...and refuses it before any up
    assert (
        "Stack 'pr-12' with configuration key 'mailstack:serverLabels' "
        "must be of type 'array<string>'" in refused.stderr
    )

    as_array = ["--path", "--plaintext", "mailstack:serverLabels[0]=mailstack-kind=throwaway"]
    assert fake_pulumi(tools, *set_all[:4], *as_array).returncode != 0  # text has no [0]
    rm = ["config", "rm-all", "--stack", "pr-12", "mailstack:serverLabels"]
    assert fake_pulumi(tools, *rm).returncode == 0
    assert fake_pulumi(tools, *set_all[:4], *as_array).returncode == 0
    assert fake_pulumi(tools, "up", "--stack", "pr-12", "--yes").returncode == 0
    assert tools.state["config"]["pr-12"]["mailstack:serverLabels"] == ["mailstack-kind=throwaway"]


@pytest.mark.parametrize(
    ("key", "value", "type_name"),
    [("mailstack:smtpPort", "587x", "integer"), ("mailstack:tailscale", "yes", "boolean")],
)
def test_the_fake_pulumi_checks_scalar_types_as_pulumi_does(
    tools: FakeTools, key: str, value: str, type_name: str
) -> None:
    base = ["config", "set-all", "--stack", "dev", "--plaintext"]
    assert fake_pulumi(tools, *base, f"{key}={value}").returncode == 0
    refused = fake_pulumi(tools, "preview", "--stack", "dev")
    assert f"key {key!r} must be of type {type_name!r}" in refused.stderr
    # Pulumi reads these texts as their types.
    good = {"integer": "2525", "boolean": "false"}[type_name]
    assert fake_pulumi(tools, *base, f"{key}={good}").returncode == 0
    assert fake_pulumi(tools, "preview", "--stack", "dev").returncode == 0


def test_the_fake_pulumi_refuses_destroy_without_the_stack_config(tools: FakeTools) -> None:
    """A fresh runner has no Pulumi.pr-12.yaml; mailstack:domain has no default."""
    tools.update(stacks=["dev", "prod", "pr-12"])
    refused = fake_pulumi(tools, "destroy", "--stack", "pr-12", "--yes")
    assert refused.returncode != 0
    assert "Stack 'pr-12' is missing configuration value 'mailstack:domain'" in refused.stderr


def test_up_from_a_laptop_names_the_stack_after_user_and_date(
    tools: FakeTools, health_url: str
) -> None:
    tools.update(outputs={"healthUrl": health_url, "appUrl": "u"})
    result = run([str(SCRIPTS / "throwaway.sh"), "up"], tools.env(**SECRETS, USER="Jane.Doe"))
    assert result.returncode == 0, result.stderr
    (created,) = [a[2] for a in tools.argvs() if a[:2] == ["stack", "init"]]
    today = {d.replace("-", "") for d in utc_dates_around(0)}
    prefix, _, rand = created.rpartition("-")
    assert prefix in {f"tw-janedoe-{d}" for d in today}
    assert len(rand) == 4
    assert all(created in a for a in tools.argvs()[1:] if a[0] in ("up", "config"))
    assert tools.state["config"][created]["mailstack:registerSshKeys"] == "false"


def test_up_fails_when_the_health_url_never_answers(tools: FakeTools) -> None:
    tools.update(outputs={"healthUrl": closed_port_url(), "appUrl": "u"})
    result = run(
        [str(SCRIPTS / "throwaway.sh"), "up", "pr-7"],
        tools.env(**SECRETS, SMOKE_ATTEMPTS="2", SMOKE_DELAY="0"),
    )
    assert result.returncode == 1
    assert "smoke test failed" in result.stderr
    assert "make destroy STACK=pr-7" in result.stderr
    assert "is up and healthy" not in result.stdout


# --- throwaway.sh destroy -------------------------------------------------------------


def test_destroy_on_a_fresh_runner_writes_the_config_then_destroys_and_removes(
    tools: FakeTools,
) -> None:
    # The stack exists in the backend; this runner has no config for it.
    tools.update(stacks=["dev", "prod", "pr-12"], resources={"pr-12": 12})
    result = run([str(SCRIPTS / "throwaway.sh"), "destroy", "pr-12"], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr
    calls = tools.argvs()
    assert [a[:2] for a in calls[:4]] == [["stack", "ls"], *CONFIG_WRITES]
    assert calls[4:] == [
        ["refresh", "--stack", "pr-12", "--yes", "--non-interactive", "--color", "never"],
        ["stack", "export", "--stack", "pr-12"],
        ["destroy", "--stack", "pr-12", "--yes", "--non-interactive", "--color", "never"],
        ["stack", "rm", "--yes", "--non-interactive", "pr-12"],
    ]
    assert tools.state["stacks"] == ["dev", "prod"]
    assert "`pr-12` destroyed and removed" in result.stdout


def test_up_and_destroy_write_the_same_config(tools: FakeTools, health_url: str) -> None:
    tools.update(outputs={"healthUrl": health_url, "appUrl": "u"})
    script = str(SCRIPTS / "throwaway.sh")
    assert run([script, "up", "pr-12"], tools.env(**SECRETS)).returncode == 0
    written_by_up = tools.state["config"]["pr-12"]
    tools.update(config={}, fail=["destroy:pr-12"])  # a fresh runner; keep the stack
    assert run([script, "destroy", "pr-12"], tools.env(**SECRETS)).returncode != 0
    assert tools.state["config"]["pr-12"] == written_by_up
    writes = [a for a in tools.argvs() if a[0] == "config"]
    assert writes[:3] == writes[3:]


def test_destroy_of_a_missing_stack_does_nothing(tools: FakeTools) -> None:
    result = run([str(SCRIPTS / "throwaway.sh"), "destroy", "pr-99"], tools.env(**SECRETS))
    assert result.returncode == 0, result.stderr
    assert tools.argvs() == [["stack", "ls", "--json"]]
    assert "does not exist: nothing to destroy" in result.stdout


def test_a_failed_destroy_keeps_the_stack(tools: FakeTools) -> None:
    tools.update(stacks=["dev", "prod", "pr-12"], fail=["destroy:pr-12"])
    result = run([str(SCRIPTS / "throwaway.sh"), "destroy", "pr-12"], tools.env(**SECRETS))
    assert result.returncode != 0
    assert ["stack", "rm", "--yes", "--non-interactive", "pr-12"] not in tools.argvs()
    assert "pr-12" in tools.state["stacks"]


REFUSED = [
    "prod",
    "dev",
    "local",
    "PROD",
    "prod ",
    " pr-12",
    "pr-12 prod",
    "pr-12;prod",
    "pr-12\nprod",
    "organization/mailstack/prod",
    "pr-0",
    "tw-jane",
    "-s",
    "--stack=prod",
]


@pytest.mark.parametrize("stack", REFUSED)
@pytest.mark.parametrize("command", ["destroy", "up"])
def test_only_throwaway_stacks_pass_and_prod_never_reaches_pulumi(
    tools: FakeTools, command: str, stack: str
) -> None:
    result = run([str(SCRIPTS / "throwaway.sh"), command, stack], tools.env(**SECRETS))
    assert result.returncode == 1
    assert "refusing to touch stack" in result.stderr
    assert tools.calls() == []


@pytest.mark.parametrize("stack", ["prod", "dev", "local"])
def test_make_destroy_goes_through_the_same_refusal(tools: FakeTools, stack: str) -> None:
    result = run(
        [
            "make",
            "--no-print-directory",
            "destroy",
            f"STACK={stack}",
            "PULUMI=pulumi",
            f"PY={sys.executable}",
        ],
        tools.env(**SECRETS),
    )
    assert result.returncode != 0
    assert f"refusing to touch stack '{stack}'" in result.stderr
    assert tools.calls() == []


def test_make_destroy_destroys_a_throwaway(tools: FakeTools) -> None:
    tools.update(stacks=["dev", "prod", "tw-jane-20260310-ab12"])
    result = run(
        [
            "make",
            "--no-print-directory",
            "destroy",
            "STACK=tw-jane-20260310-ab12",
            f"PY={sys.executable}",
        ],
        tools.env(**SECRETS),
    )
    assert result.returncode == 0, result.stderr
    destroyed = [a for a in tools.argvs() if a[0] == "destroy"]
    flags = ["--yes", "--non-interactive", "--color", "never"]
    assert destroyed == [["destroy", "--stack", "tw-jane-20260310-ab12", *flags]]


def test_nothing_in_scripts_or_workflows_destroys_prod_another_way() -> None:
    """The only `pulumi destroy` in scripts, workflows and the Makefile is the guarded
    one in throwaway.sh; the only other `stack rm` is the reaper's, which refuses
    every name that is not a throwaway's (test_reap.py)."""
    sources = [
        # Files only: importing reap.py (test_reap.py) leaves scripts/__pycache__/.
        *sorted(p for p in (ROOT / "scripts").glob("*") if p.is_file()),
        *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
        ROOT / "Makefile",
    ]
    allowed = {"throwaway.sh": {"destroy", "stack rm", "state delete"}, "reap.py": {"stack rm"}}
    patterns = {
        "destroy": re.compile(r"destroy --|[\"']destroy[\"']"),
        "state delete": re.compile(r"state delete"),
        "stack rm": re.compile(r"stack rm|[\"']stack[\"'],\s*[\"']rm[\"']"),
    }
    offenders = []
    for path in sources:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for what, pattern in patterns.items():
                if pattern.search(code) and what not in allowed.get(path.name, set()):
                    offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []
    assert any(patterns["stack rm"].search(line) for line in (SCRIPTS / "reap.py").open())


# --- the interpreter ------------------------------------------------------------------


def test_throwaway_runs_python_through_py(tools: FakeTools, tmp_path: Path) -> None:
    """Not ROOT/.venv/bin/python: PY names the interpreter (CI, tests, other venvs)."""
    used = tmp_path / "py-calls"
    wrapper = tmp_path / "py"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >>{used}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    tools.update(stacks=["dev", "prod", "pr-12"])
    env = tools.env(**SECRETS, PY=str(wrapper))
    result = run([str(SCRIPTS / "throwaway.sh"), "destroy", "pr-12"], env)
    assert result.returncode == 0, result.stderr
    assert "-m tools.throwaway check pr-12" in used.read_text()

    missing = run(
        [str(SCRIPTS / "throwaway.sh"), "destroy", "pr-12"],
        tools.env(**SECRETS, PY=str(tmp_path / "nowhere")),
    )
    assert missing.returncode == 1
    assert "nowhere: run make setup first, or set PY" in missing.stderr


# --- missing secrets ------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [{}, {"PULUMI_BACKEND_URL": "s3://b"}, {"PULUMI_CONFIG_PASSPHRASE": "x"}],
    ids=["none", "no-passphrase", "no-backend"],
)
@pytest.mark.parametrize("argv", [["up", "pr-3"], ["destroy", "pr-3"]])
def test_throwaway_without_secrets_is_an_error_or_a_clean_skip(
    tools: FakeTools, env: dict[str, str], argv: list[str]
) -> None:
    script = str(SCRIPTS / "throwaway.sh")
    failed = run([script, *argv], tools.env(**env))
    assert failed.returncode == 1
    assert "PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE are not set" in failed.stderr

    skipped = run([script, "--skip-if-unconfigured", *argv], tools.env(**env))
    assert skipped.returncode == 0
    assert f"throwaway {argv[0]} skipped: PULUMI_BACKEND_URL" in skipped.stdout
    assert tools.calls() == []


# --- pr-comment.sh ----------------------------------------------------------------


def test_pr_comment_creates_then_edits_one_comment_per_kind(
    tools: FakeTools, tmp_path: Path
) -> None:
    body = tmp_path / "body.md"
    body.write_text("preview text\n")
    env = tools.env(GITHUB_REPOSITORY="acme/mailstack", GH_TOKEN="t")
    script = str(SCRIPTS / "pr-comment.sh")

    assert run([script, "12", "preview", str(body)], env).returncode == 0
    tools.update(
        comments=[
            {"id": 5, "body": "<!-- mailstack:review-server -->\nold", "user": BOT},
            {"id": 9, "body": "<!-- mailstack:preview -->\nold", "user": BOT},
        ]
    )
    assert run([script, "12", "preview", str(body)], env).returncode == 0

    post, patch = [c for c in tools.argvs("gh") if "--method" in c]
    assert post[:4] == ["api", "--method", "POST", "repos/acme/mailstack/issues/12/comments"]
    assert post[-1] == "body=<!-- mailstack:preview -->\npreview text"
    assert patch[:4] == ["api", "--method", "PATCH", "repos/acme/mailstack/issues/comments/9"]


def test_pr_comment_never_edits_a_comment_of_someone_else(tools: FakeTools, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("preview text\n")
    tools.update(
        comments=[
            {"id": 3, "body": "<!-- mailstack:preview -->\nforged", "user": {"login": "mallory"}},
            {"id": 4, "body": "<!-- mailstack:preview -->\nforged", "user": {"login": "bot"}},
            {"id": 8, "body": "<!-- mailstack:preview -->\nours", "user": BOT},
        ]
    )
    env = tools.env(GITHUB_REPOSITORY="acme/mailstack", GH_TOKEN="t")
    assert run([str(SCRIPTS / "pr-comment.sh"), "12", "preview", str(body)], env).returncode == 0
    (patch,) = [c for c in tools.argvs("gh") if "--method" in c]
    assert patch[:4] == ["api", "--method", "PATCH", "repos/acme/mailstack/issues/comments/8"]

    # With only someone else's comments, a new one of our own.
    tools.update(comments=tools.state["comments"][:2])
    assert run([str(SCRIPTS / "pr-comment.sh"), "12", "preview", str(body)], env).returncode == 0
    post = [c for c in tools.argvs("gh") if "--method" in c][-1]
    assert post[:4] == ["api", "--method", "POST", "repos/acme/mailstack/issues/12/comments"]


@pytest.mark.parametrize(
    "argv", [["x", "preview", "f"], ["12", "Preview!", "f"], ["0", "preview", "f"], ["12"]]
)
def test_pr_comment_refuses_bad_arguments(tools: FakeTools, argv: list[str]) -> None:
    env = tools.env(GITHUB_REPOSITORY="acme/mailstack")
    assert run([str(SCRIPTS / "pr-comment.sh"), *argv], env).returncode == 2
    assert tools.calls("gh") == []
