"""Expected failures of make targets end in a plain message, never a traceback.

Each target runs for real (`make ...`) with fake `pulumi`, `aws` and `docker`
executables first on PATH, or with none at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.services import kinds
from tools.harness import ROOT

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="needs make")


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make` in the repository, with only tmp_path/bin and the system on PATH.

    `-o .venv/.installed`: use the existing virtualenv as it is.
    """
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin"


def plain_failure(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "Exception ignored" not in output, output
    for text in expected:
        assert text in output, output


NO_STACK = "echo 'error: no stack named \"prod\" found' >&2; exit 255"


@pytest.mark.parametrize("target", ["backup-status", "restore SNAPSHOT=latest"])
def test_backup_targets_without_the_pulumi_cli(tmp_path: Path, bin_dir: Path, target: str) -> None:
    done = make(tmp_path, *target.split(), "STACK=prod", f"PULUMI={bin_dir}/pulumi")
    plain_failure(done, "needs the Pulumi CLI", "pulumi.com/docs/install")


def test_backup_status_without_a_deployed_stack(tmp_path: Path, bin_dir: Path) -> None:
    fake(bin_dir, "pulumi", NO_STACK)
    done = make(tmp_path, "backup-status", "STACK=prod")
    plain_failure(done, 'no stack named "prod" found', "is the stack deployed?")


def test_backup_status_with_backups_off(tmp_path: Path, bin_dir: Path) -> None:
    fake(bin_dir, "pulumi", f"echo '{json.dumps({'enabled': False})}'")
    plain_failure(make(tmp_path, "backup-status", "STACK=dev"), "backups are off")


def test_backup_status_runs_the_stack_s_command(tmp_path: Path, bin_dir: Path) -> None:
    output = {"enabled": True, "statusCommand": f"{bin_dir}/status"}
    fake(bin_dir, "pulumi", f"echo '{json.dumps(output)}'")
    fake(bin_dir, "status", "echo last backup 2h ago")
    done = make(tmp_path, "backup-status", "STACK=prod")
    assert done.returncode == 0 and "last backup 2h ago" in done.stdout


def test_ses_dkim_without_the_pulumi_cli(tmp_path: Path, bin_dir: Path) -> None:
    done = make(tmp_path, "ses-dkim", "STACK=prod", f"PULUMI={bin_dir}/pulumi")
    plain_failure(done, "needs the Pulumi CLI")


def test_ses_dkim_without_a_deployed_stack(tmp_path: Path, bin_dir: Path) -> None:
    fake(bin_dir, "pulumi", NO_STACK)
    plain_failure(make(tmp_path, "ses-dkim", "STACK=prod"), "no dkimSigning output")


def test_ses_dkim_without_the_aws_cli(tmp_path: Path, bin_dir: Path) -> None:
    signing = {"domain": "m.de", "selector": "s1", "privateKeyPem": "x", "sesRegion": "eu-west-1"}
    fake(bin_dir, "pulumi", f"echo '{json.dumps(signing)}'")
    plain_failure(make(tmp_path, "ses-dkim", "STACK=prod"), "needs the AWS CLI")


NO_REGISTRY = """case "$1 $2" in
  "image inspect") exit 1;;
  "pull -q") echo "Error response from daemon: Get \\"https://registry-1.docker.io/v2/\\": \
dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1;;
esac
exit 3"""


def test_local_images_without_a_registry(tmp_path: Path, bin_dir: Path) -> None:
    """The image step of `make local` names every image, Docker's reason and the way out."""
    fake(bin_dir, "docker", NO_REGISTRY)
    out = tmp_path / "build"
    subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "tools.synth",
            "--stack",
            "local",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "tools.images", str(out / "local" / "compose")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    plain_failure(done, "cannot pull 4 image(s)", "no such host", "imageRegistryMirror")
    for image in (kinds.CADDY.ref, "postgres:17.5", "listmonk/listmonk:v5.0.3", "axllent/mailpit"):
        assert image in done.stderr
    assert "make local STANDINS=1" in done.stderr
