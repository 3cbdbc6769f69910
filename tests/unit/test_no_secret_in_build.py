"""No secret value reaches build/ or the pull request's comment (issue 13).

A copy of the repository gets a distinctive value for every secret key, in
each form it could reach synth: as `secure:` ciphertext in the stack file,
and as the decrypted values the Pulumi CLI hands a program (`PULUMI_CONFIG`
with `PULUMI_CONFIG_SECRET_KEYS`, present in the environment of a runner
that also ran `pulumi`). Then `make synth`'s runner writes build/, and
scripts/synth-diff.sh writes the report scripts/pr-comment.sh posts (through
a stand-in `gh` that records the comment). None of the values may appear in
any of it; the secrets' placeholders must (so the search is not vacuous). A
value written in plain text is refused without being shown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailstack.config import ConfigError, key_specs
from tests.unit.test_synth_diff import IGNORED, git
from tools.harness import ROOT
from tools.synth import synth

SECRET_KEYS = [spec.alias for spec in key_specs() if spec.secret]


def _value(key: str) -> str:
    if key == "backupHeartbeatUrl":
        return f"https://hc-ping.com/probe-{key}-7d41c0"
    return f"probe-{key}-7d41c0'\"$x\nline2"


def _ciphertext(key: str) -> str:
    return f"v1:CIPHERTEXTPROBE{key}7d41c0=="


def _hits(paths: list[Path], needles: list[str]) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [f"{path}: {n!r}" for n in needles if n.encode() in data]
    return found


def _files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()]


@pytest.mark.slow
def test_no_secret_value_in_build_or_the_pr_comment(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORED)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text()
        + "".join(f"  mailstack:{k}:\n    secure: {_ciphertext(k)}\n" for k in SECRET_KEYS)
    )
    values = [_value(k) for k in SECRET_KEYS]
    needles = values + [_ciphertext(k) for k in SECRET_KEYS] + [v.split("'")[0] for v in values]
    env = {
        **os.environ,
        "PY": sys.executable,
        "PULUMI_CONFIG": json.dumps({f"mailstack:{k}": _value(k) for k in SECRET_KEYS}),
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps([f"mailstack:{k}" for k in SECRET_KEYS]),
    }

    synthed = subprocess.run(
        [sys.executable, "-m", "tools.synth", "--stack", "dev"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert synthed.returncode == 0, synthed.stderr
    report = tmp_path / "synth-diff.md"
    diff = subprocess.run(
        [str(repo / "scripts" / "synth-diff.sh"), "HEAD", str(report)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert diff.returncode == 0, diff.stderr
    comment_log = tmp_path / "gh.log"
    fake_gh = tmp_path / "gh"
    fake_gh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {comment_log}\n')
    fake_gh.chmod(0o755)
    posted = subprocess.run(
        [str(repo / "scripts" / "pr-comment.sh"), "7", "preview", str(report)],
        env={**env, "GH": str(fake_gh), "GITHUB_REPOSITORY": "acme/mailstack"},
        capture_output=True,
        text=True,
    )
    assert posted.returncode == 0, posted.stderr

    build = _files(repo / "build")
    searched = [*build, report, comment_log]
    assert _hits(searched, needles) == []
    for stream in (synthed, diff, posted):
        assert [n for n in needles if n in stream.stdout + stream.stderr] == []
    # Not vacuous: each secret's placeholder is where its value would be.
    written = b"".join(p.read_bytes() for p in build)
    for key in ("smtpPassword", "backupHeartbeatUrl"):
        assert f"<secret:mailstack:{key}>".encode() in written
    assert "Rendered infrastructure" in comment_log.read_text()


def test_a_plain_text_secret_stops_synth_without_showing_it(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    value = _value("smtpPassword").replace("\n", " ")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        (ROOT / "Pulumi.dev.yaml").read_text() + f"  mailstack:smtpPassword: {json.dumps(value)}\n"
    )
    with pytest.raises(ConfigError) as caught:
        synth("dev", tmp_path / "build", root=tmp_path)
    assert "smtpPassword: is a secret" in str(caught.value)
    assert value not in str(caught.value)
    assert not (tmp_path / "build").exists()
