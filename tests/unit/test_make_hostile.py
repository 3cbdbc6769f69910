"""`make` passes STACK and SNAPSHOT to recipes as raw text: no value runs a command.

Each hostile value tries to create a file, by make's `$(shell ...)`, by
breaking the recipe's quotes, or by shell substitution; the destroy must be
refused and the file must not exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.harness import ROOT

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="needs GNU make")


def _hostile(marker: Path) -> list[str]:
    return [
        f"$(shell touch {marker})",
        f"pr-1'; touch {marker}; echo '",
        f'pr-1"; touch {marker}; echo "',
        f"pr-1`touch {marker}`",
        f"pr-1$$(touch {marker})",
        f"pr-1 $(touch {marker})",
        f"pr-1\ntouch {marker}",
        f"-h; touch {marker}",
    ]


@pytest.mark.parametrize("index", range(8))
def test_make_destroy_runs_no_extra_shell(tmp_path: Path, index: int) -> None:
    marker = tmp_path / "pwned"
    stack = _hostile(marker)[index]
    fake_pulumi = tmp_path / "pulumi"
    fake_pulumi.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake_pulumi.chmod(0o755)
    env = {**os.environ, "PULUMI_BACKEND_URL": "file://" + str(tmp_path)}
    env["PULUMI_CONFIG_PASSPHRASE"] = "x"
    done = subprocess.run(
        ["make", "-s", "destroy", f"STACK={stack}", f"PULUMI={fake_pulumi}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to touch stack" in done.stderr
    assert not marker.exists()


def test_make_restore_snapshot_runs_no_extra_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for snapshot in (f"$(shell touch {marker})", f"latest; touch {marker}", f"`touch {marker}`"):
        done = subprocess.run(
            ["make", "-s", "restore", "STACK=pr-1", f"SNAPSHOT={snapshot}", "PULUMI=false"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert not marker.exists()
