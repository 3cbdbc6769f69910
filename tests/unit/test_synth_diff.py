"""scripts/synth-diff.sh: the rendered-infrastructure diff CI posts as a job summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.harness import ROOT

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "__pycache__", ".*_cache", ".hypothesis", "golden"
)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
def test_synth_diff_shows_what_a_change_renders_differently(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORED)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    env = {**os.environ, "PY": sys.executable}
    script = str(repo / "scripts" / "synth-diff.sh")
    report = tmp_path / "report.md"

    same = subprocess.run([script, "HEAD", str(report)], cwd=tmp_path, env=env, text=True)
    assert same.returncode == 0
    assert "No change in any stack." in report.read_text()

    main = repo / "__main__.py"
    main.write_text(main.read_text() + 'import pulumi\n\npulumi.export("reviewProbe", "changed")\n')
    summary = tmp_path / "summary.md"
    changed = subprocess.run(
        [script, "HEAD", str(report)],
        cwd=tmp_path,
        env={**env, "GITHUB_STEP_SUMMARY": str(summary)},
        text=True,
    )
    assert changed.returncode == 0
    text = report.read_text()
    for stack in ("local", "dev", "prod"):
        assert f"--- before/{stack}/outputs.json\n+++ after/{stack}/outputs.json\n" in text
    assert text.count('+  "reviewProbe": "changed"') == 3
    assert "graph.svg" not in text
    assert summary.read_text() == text
    # The base worktree is gone again.
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert len(worktrees.stdout.splitlines()) == 1
