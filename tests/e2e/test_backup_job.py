"""The scheduled job: retention, no silent failure, the staleness check, the heartbeat."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.e2e.backup_support import BackupHost, sources_for, sqlite_create, temp_dir


@pytest.fixture
def host() -> Iterator[BackupHost]:
    """A host backing up one SQLite database and one file volume, already backed up once."""
    with temp_dir("job") as root:
        lite = root / "lite.db"
        sqlite_create(lite, 50)
        uploads = root / "uploads"
        uploads.mkdir()
        (uploads / "a.txt").write_text("hello")
        (root / "host").mkdir()
        h = BackupHost(root / "host", sources_for(sqlite_path=lite, files=uploads))
        h.ok("mailstack-backup", "init")
        h.ok("mailstack-backup")
        yield h


# --- retention -------------------------------------------------------------------------

# Newest first. With keep 3 daily / 3 weekly / 3 monthly and the job's own
# snapshot (now) taking the first slot of each:
SYNTHETIC = {
    "2024-03-15 18:00:00": True,  # daily #2, weekly #2 (2024-W11), monthly #2 (2024-03)
    "2024-03-15 08:00:00": False,  # same day, week and month as the one above
    "2024-03-13 12:00:00": True,  # daily #3
    "2024-03-12 12:00:00": False,  # daily full; still 2024-W11 and 2024-03
    "2024-03-05 12:00:00": True,  # weekly #3 (2024-W10)
    "2024-02-10 12:00:00": True,  # monthly #3 (2024-02)
    "2024-01-10 12:00:00": False,  # every bucket full
}


def test_retention_keeps_exactly_the_expected_snapshots() -> None:
    with temp_dir("retention") as root:
        data = root / "data"
        data.mkdir()
        (data / "f").write_text("x")
        (root / "host").mkdir()
        h = BackupHost(root / "host", sources_for(files=data), keep=(3, 3, 3))
        h.ok("mailstack-backup", "init")
        for when in SYNTHETIC:
            h.restic(
                "backup", "--time", when, "--host", h.hostname, "--tag", "scheduled", str(data)
            )
        # A safety snapshot from a restore is never pruned by the schedule's policy.
        h.restic("backup", "--time", "2023-06-01 00:00:00", "--tag", "pre-restore", str(data))

        started = datetime.now(UTC).replace(microsecond=0)
        h.ok("mailstack-backup")
        ended = datetime.now(UTC)

        # The job's own snapshot is told by its instant (restic writes times
        # with their offset), the synthetic ones by their wall time, which
        # restic reads and prints in one and the same zone: right in any TZ.
        snapshots = json.loads(h.restic("snapshots", "--json").stdout)
        new = [s for s in snapshots if started <= _instant(s["time"]) <= ended]
        assert len(new) == 1
        kept = sorted(s["time"][:19].replace("T", " ") for s in snapshots if s not in new)
        expected = sorted(
            [when for when, keep in SYNTHETIC.items() if keep] + ["2023-06-01 00:00:00"]
        )
        assert kept == expected


def _instant(restic_time: str) -> datetime:
    """restic's `2024-03-15T18:00:00.123456789+01:00` as an aware datetime, to the second."""
    head, dot, rest = restic_time.partition(".")
    if not dot:
        return datetime.fromisoformat(restic_time)
    digits = re.match(r"[0-9]*", rest)
    assert digits is not None
    fraction, offset = digits.group(0), rest[digits.end() :]
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}{offset}").replace(
        microsecond=0
    )


# --- failures leave the marker alone ----------------------------------------------------------


def _snapshot_files(h: BackupHost) -> list[str]:
    return sorted(p.name for p in (Path(h.repository) / "snapshots").iterdir())


def _assert_failed_untouched(
    h: BackupHost, before: dict[str, bytes], snaps: list[str], reason: str
) -> None:
    result = h.script("mailstack-backup")
    assert result.returncode != 0
    assert reason in result.stderr
    assert "the last-success marker is unchanged" in result.stderr
    assert h.state() == before
    assert _snapshot_files(h) == snaps
    failure = Path(h.paths.state_dir) / "last-failure"
    assert "action=run" in failure.read_text()
    metric = Path(h.paths.metrics_dir) / "mailstack_backup_failure.prom"
    assert 'mailstack_backup_last_failure_timestamp_seconds{action="run"}' in metric.read_text()
    status = h.script("mailstack-backup-status")
    assert status.returncode == 1
    assert "backup FAILED since the last success" in status.stdout
    assert "last backup failed" in status.stdout


def test_wrong_password_fails_the_job_and_leaves_the_marker(host: BackupHost) -> None:
    before, snaps = host.state(), _snapshot_files(host)
    assert "last-success" in before
    Path(host.paths.password_file).write_text("not the password\n")
    _assert_failed_untouched(host, before, snaps, "wrong password")


def test_failing_dump_fails_the_job_and_leaves_the_marker(host: BackupHost) -> None:
    before, snaps = host.state(), _snapshot_files(host)
    (lite,) = (s.target for s in host.sources if s.kind == "sqlite")
    Path(lite).write_bytes(b"this is not an sqlite database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(lite + suffix).unlink(missing_ok=True)
    _assert_failed_untouched(host, before, snaps, "file is not a database")


@pytest.mark.slow
def test_failing_upload_fails_the_job_and_leaves_the_marker(host: BackupHost) -> None:
    """Every pack upload fails (even for root): each data/xx dir is now a file.

    restic retries a failed upload about ten times with backoff (~50 s) first.
    """
    before, snaps = host.state(), _snapshot_files(host)
    (uploads,) = (s.target for s in host.sources if s.kind == "files")
    (Path(uploads) / "new.bin").write_bytes(bytes(range(256)) * 4096)
    data = Path(host.repository) / "data"
    aside = Path(host.repository).parent / "data-aside"
    data.rename(aside)
    data.mkdir()
    for d in aside.iterdir():
        (data / d.name).touch()
    _assert_failed_untouched(host, before, snaps, "not a directory")


# --- metrics ------------------------------------------------------------------------------


def test_metrics_are_readable_by_a_collector_that_is_not_root(host: BackupHost) -> None:
    host.ok("mailstack-backup", "check")
    metrics = Path(host.paths.metrics_dir)
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o755
    files = sorted(metrics.iterdir())
    assert [f.name for f in files] == ["mailstack_backup.prom", "mailstack_backup_check.prom"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name
    # As the collector would read it (node_exporter runs as an unprivileged user).
    reader = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    read = subprocess.run(
        [*reader, "cat", str(files[0])], capture_output=True, text=True, check=False
    )
    assert read.returncode == 0, read.stderr
    assert "mailstack_backup_last_success_timestamp_seconds " in read.stdout


# --- staleness ----------------------------------------------------------------------------------


def test_status_is_ok_after_a_success_and_stale_when_old_or_missing(host: BackupHost) -> None:
    ok = host.script("mailstack-backup-status", "--json")
    assert ok.returncode == 0
    report = json.loads(ok.stdout)
    assert (report["status"], report["state"]) == ("ok", "fresh")
    assert report["maxAgeHours"] == 26

    marker = Path(host.paths.last_success_file)
    old = int(datetime.now(UTC).timestamp()) - 27 * 3600
    marker.write_text(f"{old} then snapshot=abc\n")
    stale = host.script("mailstack-backup-status", "--json")
    assert stale.returncode == 1
    assert json.loads(stale.stdout)["state"] == "stale"
    assert "backup STALE" in host.script("mailstack-backup-status").stdout

    marker.unlink()
    missing = host.script("mailstack-backup-status")
    assert missing.returncode == 1
    assert "no successful backup" in missing.stdout


# --- the published status (for the proxy's /healthz/backup) ------------------------------


def _publish(host: BackupHost) -> tuple[dict[str, object], str | None]:
    """Run the status writer as its unit does; the JSON and the marker's text (or None)."""
    status_dir = host.root / "status"
    result = host.script("mailstack-backup-status", "--publish", str(status_dir))
    assert result.returncode in (0, 2), result.stderr
    assert stat.S_IMODE(status_dir.stat().st_mode) == 0o755
    names = sorted(p.name for p in status_dir.iterdir())
    assert set(names) <= {"backup.json", "backup.stale"}, names  # no temp file left behind
    for name in names:
        assert stat.S_IMODE((status_dir / name).stat().st_mode) == 0o644, name
    marker = status_dir / "backup.stale"
    report = json.loads((status_dir / "backup.json").read_text())
    return report, marker.read_text() if marker.exists() else None


def _days_ago(days: float) -> int:
    return int(datetime.now(UTC).timestamp() - days * 86400)


def test_published_status_follows_fresh_stale_never_and_failed(host: BackupHost) -> None:
    state = Path(host.paths.state_dir)
    token = "5e7a-heartbeat-token"
    host.heartbeat_url = f"https://hc.example.net/ping/{token}"
    host.write_config()

    report, marker = _publish(host)
    assert (report["state"], report["status"], marker) == ("fresh", "ok", None)
    assert isinstance(report["ageSeconds"], int)
    published = (host.root / "status/backup.json").read_text()
    assert token not in published
    assert host.password not in published

    # A failed run after the success turns it red at once, not 26 h later.
    (state / "last-failure").write_text(f"{_days_ago(0)} now action=run exit=1\n")
    report, marker = _publish(host)
    assert (report["state"], report["status"]) == ("failed", "stale")
    assert marker is not None
    assert "last backup failed" in marker
    host.ok("mailstack-backup")
    report, marker = _publish(host)
    assert (report["state"], marker) == ("fresh", None)

    # So does a failed repository check, and a later successful backup does not hide it.
    (state / "last-check-failure").write_text(f"{_days_ago(0)} now action=check exit=1\n")
    host.ok("mailstack-backup")
    report, marker = _publish(host)
    assert report["state"] == "failed"
    assert marker is not None
    assert "repository check failed" in marker
    host.ok("mailstack-backup", "check")
    assert _publish(host)[0]["state"] == "fresh"

    (state / "last-success").write_text(f"{_days_ago(2)} then snapshot=abc\n")
    report, marker = _publish(host)
    assert (report["state"], report["status"]) == ("stale", "stale")
    assert marker is not None
    assert "backup STALE" in marker

    (state / "last-success").unlink()
    report, marker = _publish(host)
    assert (report["state"], report["lastSuccess"], report["ageSeconds"]) == ("never", None, None)
    assert marker is not None

    # A broken config is neither fresh nor silently the last verdict.
    Path(host.paths.config_file).write_text("RESTIC_REPOSITORY=/x\n")
    report, marker = _publish(host)
    assert report["state"] == "unknown"
    assert marker is not None


def test_published_status_is_readable_by_the_proxy_that_is_not_root(host: BackupHost) -> None:
    _publish(host)
    reader = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    read = subprocess.run(
        [*reader, "cat", str(host.root / "status/backup.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["state"] == "fresh"


def test_status_fails_distinctly_on_a_broken_config(host: BackupHost) -> None:
    Path(host.paths.config_file).write_text("RESTIC_REPOSITORY=/x\n")
    assert host.script("mailstack-backup-status").returncode == 2


# --- heartbeat ---------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 (one test server per test)
    status = 200

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_heartbeat_is_pinged_after_success_only(host: BackupHost) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host.heartbeat_url = f"http://127.0.0.1:{server.server_port}/ping/backup-test"
        host.write_config()
        host.ok("mailstack-backup")
        assert _Recorder.hits == ["/ping/backup-test"]

        Path(host.paths.password_file).write_text("wrong\n")
        assert host.script("mailstack-backup").returncode != 0
        assert _Recorder.hits == ["/ping/backup-test"]
    finally:
        server.shutdown()


def test_a_failed_ping_is_a_warning_that_never_shows_the_url(host: BackupHost) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits, _Recorder.status = [], 500
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A curl first on PATH that records its argv, then runs the real one.
    shim = host.root / "shim"
    shim.mkdir()
    argv_log = host.root / "curl-argv"
    real_curl = shutil.which("curl")
    (shim / "curl").write_text(f'#!/bin/sh\necho "$@" >> {argv_log}\nexec {real_curl} "$@"\n')
    (shim / "curl").chmod(0o755)
    host.env["PATH"] = f"{shim}:{os.environ['PATH']}"
    token = "0f4c1e2a-secret-check-uuid"
    try:
        host.heartbeat_url = f"http://127.0.0.1:{server.server_port}/ping/{token}"
        host.write_config()
        result = host.ok("mailstack-backup")
    finally:
        server.shutdown()
        _Recorder.status = 200
    assert _Recorder.hits == [f"/ping/{token}"] * 4  # the first try and --retry 3
    assert "warning: heartbeat ping failed (curl exit 22)" in result.stderr
    assert token not in result.stderr
    assert token not in result.stdout
    assert argv_log.read_text().strip()
    assert token not in argv_log.read_text()


# --- periodic check ---------------------------------------------------------------------


def test_check_reads_data_and_fails_on_a_damaged_pack(host: BackupHost) -> None:
    host.ok("mailstack-backup", "check")
    marker = Path(host.paths.state_dir) / "last-check-success"
    checked = marker.read_text()
    metric = Path(host.paths.metrics_dir) / "mailstack_backup_check.prom"
    assert "mailstack_backup_check_last_success_timestamp_seconds " in metric.read_text()
    assert json.loads(host.ok("mailstack-backup-status", "--json").stdout)["lastCheck"]

    pack = max((Path(host.repository) / "data").glob("*/*"), key=lambda p: p.stat().st_size)
    pack.chmod(0o600)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size - 100)
    result = host.script("mailstack-backup", "check")
    assert result.returncode != 0
    assert marker.read_text() == checked
    assert "action=check" in (Path(host.paths.state_dir) / "last-check-failure").read_text()
