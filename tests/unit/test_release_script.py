"""mailstack-release's rollback choices, with `docker`, `sudo` and the restore as stand-ins.

Which release `rollback` picks, which pre-update snapshot `db` restores (the
one taken when that release was replaced: the data as it left it), and that
a hostile release id is refused by the script itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools.harness import ROOT

SCRIPT = ROOT / "assets" / "services" / "mailstack-release"
A, B, C = "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"
# id, time, outcome, image, digest, config, pre-update snapshot
HISTORY = [
    (A, "ok", "-"),
    (B, "ok", "5b000001"),  # taken before B: the data as A left it
    ("dddddddddddd", "failed", "5d000001"),  # a failed release's snapshot
    (B, "rollback", "-"),
    (C, "ok", "5c000001"),  # taken before C: the data as B left it
]


@pytest.fixture
def host(tmp_path: Path) -> Path:
    compose = tmp_path / "compose"
    (compose / "env").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name, body in {
        "docker": f'echo "docker $*" >> {log}',
        "sudo": '[ "$1" = -n ] && shift; exec "$@"',
        "mailstack-restore": f'echo "restore $*" >> {log}',
    }.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    releases = compose / "releases" / "app"
    lines = []
    for release, outcome, snapshot in HISTORY:
        lines.append(
            f"{release}\t2026-12-05T00:00:00Z\t{outcome}\tsha256:{release}\t-\tcfg\t{snapshot}"
        )
        saved = releases / release
        saved.mkdir(parents=True, exist_ok=True)
        (saved / "compose.yaml").write_text("services: {}\n")
        (saved / "pin.yaml").write_text("services: {}\n")
        (saved / "env").write_text(f"RELEASE={release}\n")
    (releases / "history").write_text("\n".join(lines) + "\n")
    return tmp_path


def release(host: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{host / 'bin'}:{os.environ['PATH']}",
        "RELEASES_DIR": "releases",
        "BACKUP_BIN": str(host / "bin"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=host / "compose",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def calls(host: Path) -> list[str]:
    log = host / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def last_line(host: Path) -> list[str]:
    text = (host / "compose" / "releases" / "app" / "history").read_text()
    return text.splitlines()[-1].split("\t")


def test_rollback_picks_the_good_release_before_the_current_one(host: Path) -> None:
    done = release(host, "rollback", "app", "")
    assert done.returncode == 0, done.stderr
    assert f"serves release {B}" in done.stderr
    assert last_line(host)[:1] + last_line(host)[2:3] == [B, "rollback"]
    assert (host / "compose" / "env" / "app.env").read_text() == f"RELEASE={B}\n"
    (up,) = [c for c in calls(host) if " up " in c]
    assert f"releases/app/{B}/compose.yaml" in up and f"releases/app/{B}/pin.yaml" in up
    assert not [c for c in calls(host) if c.startswith("restore")]


@pytest.mark.parametrize(("to", "snapshot"), [("", "5c000001"), (A, "5b000001")])
def test_db_restores_the_snapshot_taken_when_that_release_was_replaced(
    host: Path, to: str, snapshot: str
) -> None:
    done = release(host, "rollback", "app", to, "db")
    assert done.returncode == 0, done.stderr
    restores = [c for c in calls(host) if c.startswith("restore")]
    assert restores == [f"restore --no-app {snapshot}"]
    # The app is stopped before its database is replaced, started after.
    order = [c.split()[2] if c.startswith("docker compose") else "restore" for c in calls(host)]
    assert order.index("stop") < order.index("restore")


def test_the_newest_release_has_no_snapshot_after_it(host: Path) -> None:
    done = release(host, "rollback", "app", C, "db")
    assert done.returncode == 1
    assert f"no pre-update snapshot was taken after release {C}" in done.stderr
    assert calls(host) == []


@pytest.mark.parametrize(
    "to", ["dddddddddddd", "ffffffffffff", f"{A}\n{B}", f"{A};id", "AAAAAAAAAAAA", A[:-1]]
)
def test_a_release_that_is_not_a_recorded_good_one_is_refused(host: Path, to: str) -> None:
    done = release(host, "rollback", "app", to)
    assert done.returncode == 1
    assert "release: app: release" in done.stderr or "must be 12 hex digits" in done.stderr
    assert calls(host) == []


@pytest.mark.parametrize("service", ["app;id", "../app", "", "App"])
def test_a_hostile_service_name_is_refused(host: Path, service: str) -> None:
    done = release(host, "history", service)
    assert done.returncode == 1
    assert "is not a service name" in done.stderr
