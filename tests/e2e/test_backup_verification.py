"""A restore verifies the snapshot before it touches anything live.

After the backup, the live data moves on (a new row, a changed file), so a
restore that went ahead would visibly undo it. Each corruption must be caught
by a named verification layer (restic check, restic restore --verify, the
manifest checksums, the scratch load), and afterwards the live databases,
files, markers and the app are exactly as before: not stopped, no safety
snapshot, no scratch database left behind.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.backup_support import (
    BackupHost,
    MariaDB,
    Postgres,
    create_orders_maria,
    create_orders_pg,
    file_tree,
    mariadb_server,
    postgres_server,
    sources_for,
    sqlite_create,
    temp_dir,
)


@dataclass
class Live:
    pg: Postgres
    maria: MariaDB
    lite: Path
    uploads: Path
    host: BackupHost

    @property
    def repo(self) -> Path:
        return Path(self.host.repository)

    def contents(self) -> dict[str, object]:
        db = sqlite3.connect(self.lite)
        try:
            lite_rows = db.execute("SELECT * FROM orders ORDER BY id").fetchall()
        finally:
            db.close()
        return {
            "pg": self.pg.sql("SELECT * FROM orders ORDER BY id", "app"),
            "pg_databases": self.pg.sql("SELECT datname FROM pg_database ORDER BY 1"),
            "maria": self.maria.sql("SELECT * FROM orders ORDER BY id", "app"),
            "maria_databases": self.maria.sql("SHOW DATABASES"),
            "lite": lite_rows,
            "uploads": file_tree(self.uploads),
            "state": self.host.state(),
            "snapshots": sorted(p.name for p in (self.repo / "snapshots").iterdir()),
            "app": self.host.app_log.exists(),
        }


@pytest.fixture
def live() -> Iterator[Live]:
    with postgres_server() as pg, mariadb_server() as maria, temp_dir("verify") as root:
        create_orders_pg(pg, "app", 2000)
        create_orders_maria(maria, "app", 2000)
        lite = root / "lite.db"
        sqlite_create(lite, 100)
        uploads = root / "uploads"
        uploads.mkdir()
        (uploads / "a.txt").write_text("v1")
        (root / "host").mkdir()
        host = BackupHost(root / "host", sources_for(pg, maria, lite, uploads))
        host.ok("mailstack-backup", "init")
        host.ok("mailstack-backup")
        pg.sql("INSERT INTO orders VALUES (1, 'after the backup')", "app")
        maria.sql("INSERT INTO orders VALUES (1, 'after the backup')", "app")
        db = sqlite3.connect(lite)
        with db:
            db.execute("INSERT INTO orders VALUES (1, 'after the backup')")
        db.close()
        (uploads / "a.txt").write_text("v2")
        yield Live(pg, maria, lite, uploads, host)


def _largest_pack(live: Live) -> Path:
    return max((live.repo / "data").glob("*/*"), key=lambda p: p.stat().st_size)


def flip_bytes_in_pack(live: Live) -> None:
    pack = _largest_pack(live)
    pack.chmod(0o600)
    with pack.open("r+b") as f:
        f.seek(pack.stat().st_size // 2)
        f.write(b"XXXXXXXX")


def truncate_pack(live: Live) -> None:
    pack = _largest_pack(live)
    pack.chmod(0o600)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size // 2)


def truncate_snapshot_file(live: Live) -> None:
    (snapshot,) = (live.repo / "snapshots").iterdir()
    snapshot.chmod(0o600)
    with snapshot.open("r+b") as f:
        f.truncate(40)


def _rewrite_dump(
    live: Live, source: str, dump_name: str, edit: Callable[[bytes], bytes], fix_checksum: bool
) -> None:
    """A new newest snapshot in which one source's dump is edited."""
    staging = Path(live.host.paths.staging_dir)
    out = live.host.root / "tamper"
    live.host.restic("restore", "latest", "--target", str(out), "--include", str(staging))
    shutil.copytree(out / staging.relative_to("/"), staging)
    dump = staging / dump_name
    dump.write_bytes(edit(dump.read_bytes()))
    if fix_checksum:
        import hashlib

        manifest = staging / "mailstack-backup.manifest"
        digest = hashlib.sha256(dump.read_bytes()).hexdigest()
        lines = [
            " ".join([*line.split()[:3], digest]) if line.split()[1:2] == [source] else line
            for line in manifest.read_text().splitlines()
        ]
        manifest.write_text("\n".join(lines) + "\n")
    live.host.restic(
        "backup",
        "--host",
        live.host.hostname,
        "--tag",
        "scheduled",
        str(staging),
        str(live.uploads),
    )
    shutil.rmtree(staging)


def _first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _whole_lines_of_first_half(data: bytes) -> bytes:
    half = data[: len(data) // 2]
    return half[: half.rindex(b"\n") + 1]


def _before_the_last_table(data: bytes) -> bytes:
    """Cut between two tables: what is left loads cleanly and lists as many
    tables as it creates; only the missing last line tells."""
    cut = data.rindex(b"\n--\n-- Table structure for table ")
    assert data.count(b"\nCREATE TABLE ") >= 2
    return data[: cut + 1]


def dump_differs_from_manifest(live: Live) -> None:
    _rewrite_dump(live, "pg", "pg.pgdump", _first_half, fix_checksum=False)


def dump_does_not_load(live: Live) -> None:
    _rewrite_dump(live, "pg", "pg.pgdump", _first_half, fix_checksum=True)


def mariadb_dump_differs_from_manifest(live: Live) -> None:
    _rewrite_dump(live, "maria", "maria.sql", _whole_lines_of_first_half, fix_checksum=False)


def mariadb_dump_cut_short(live: Live) -> None:
    _rewrite_dump(live, "maria", "maria.sql", _before_the_last_table, fix_checksum=True)


def mariadb_dump_does_not_load(live: Live) -> None:
    def break_an_insert(data: bytes) -> bytes:
        return data.replace(b"INSERT INTO `orders`", b"INSERT INTO `no_such_table`", 1)

    _rewrite_dump(live, "maria", "maria.sql", break_an_insert, fix_checksum=True)


CORRUPTIONS: dict[str, tuple[Callable[[Live], None], str]] = {
    "bytes flipped in a data pack": (flip_bytes_in_pack, "ciphertext verification failed"),
    "data pack truncated": (truncate_pack, "unexpected file size"),
    "snapshot file truncated": (truncate_snapshot_file, "repository contains errors"),
    "dump differs from the manifest": (
        dump_differs_from_manifest,
        "does not match the manifest's checksum",
    ),
    "dump does not load": (dump_does_not_load, "does not load into a scratch database"),
    "mariadb dump differs from the manifest": (
        mariadb_dump_differs_from_manifest,
        "does not match the manifest's checksum",
    ),
    "mariadb dump cut short": (mariadb_dump_cut_short, "mariadb dump of 'maria' is incomplete"),
    "mariadb dump does not load": (
        mariadb_dump_does_not_load,
        "mariadb dump of 'maria' does not load into a scratch database",
    ),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupt_snapshot_is_refused_before_anything_live_changes(
    live: Live, corruption: str
) -> None:
    corrupt, reason = CORRUPTIONS[corruption]
    corrupt(live)
    before = live.contents()

    result = live.host.script("mailstack-restore", "latest")

    assert result.returncode != 0
    assert reason in result.stderr
    assert "nothing was changed" in result.stderr
    assert live.contents() == before
    assert "mailstack_verify" not in live.pg.sql("SELECT string_agg(datname, ',') FROM pg_database")
    assert "mailstack_verify" not in live.maria.sql("SHOW DATABASES")


def test_dry_run_verifies_and_changes_nothing(live: Live) -> None:
    before = live.contents()
    result = live.host.ok("mailstack-restore", "--dry-run", "latest")
    assert "snapshot latest verified" in result.stderr
    assert live.contents() == before


def test_verified_restore_takes_a_safety_snapshot_then_replaces_live_data(live: Live) -> None:
    live.host.ok("mailstack-restore", "latest")

    assert live.pg.sql("SELECT count(*) FROM orders WHERE id = 1", "app") == "0"
    assert live.pg.sql("SELECT count(*) FROM orders", "app") == "2000"
    assert live.maria.sql("SELECT count(*) FROM orders WHERE id = 1", "app") == "0"
    assert live.maria.sql("SELECT count(*) FROM orders", "app") == "2000"
    assert (live.uploads / "a.txt").read_text() == "v1"
    db = sqlite3.connect(live.lite)
    assert db.execute("SELECT count(*) FROM orders WHERE id = 1").fetchone() == (0,)
    db.close()
    assert live.host.app_log.read_text().split() == ["stop", "start", "health"]
    # The safety snapshot holds the data from just before the restore.
    (safety,) = live.host.snapshot_ids("--tag", "pre-restore")
    saved = live.host.restic("dump", safety, str(live.uploads / "a.txt")).stdout
    assert saved == "v2"


def test_a_volume_without_room_for_the_snapshot_twice_is_refused_first(
    live: Live, tmp_path: Path
) -> None:
    """A fake `df` says 1000 bytes are free: too little for the snapshot, twice."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "df").write_text("#!/bin/sh\nprintf '     Avail\\n%s\\n' 1000\n")
    (fake / "df").chmod(0o755)
    live.host.env["PATH"] = f"{fake}:{os.environ['PATH']}"
    before = live.contents()
    result = live.host.script("mailstack-restore", "latest")
    assert result.returncode != 0
    assert "not enough free space: snapshot latest restores to" in result.stderr
    assert "restore ABORTED during verification" in result.stderr
    assert "restic check" not in result.stderr and "step 2/4" not in result.stderr
    assert live.contents() == before
