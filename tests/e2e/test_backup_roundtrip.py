"""Back up while writers insert, restore into fresh instances, lose nothing acknowledged.

PostgreSQL, MariaDB and SQLite each get a writer that commits (order, two
lines) transactions in a loop during the backup. The snapshot is then restored
by `mailstack-restore --from` (the restore drill) onto a second, empty set of
servers, and every table is compared with the source up to the backup point.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import time
from pathlib import Path

from components.backup_sources import SQLITE_SIDECARS, BackupSource, SourceKind
from tests.e2e.backup_support import (
    BackupHost,
    MariaDB,
    Postgres,
    create_orders_maria,
    create_orders_pg,
    file_tree,
    mariadb_server,
    mariadb_writer,
    pg_writer,
    postgres_server,
    read_only,
    sources_for,
    sqlite_create,
    sqlite_writer,
    temp_dir,
)

PRELOAD = 100_000


def orders_pg(pg: Postgres) -> list[tuple[str, ...]]:
    out = pg.sql("SELECT id, note FROM orders WHERE id > 0 ORDER BY id", "app")
    return [tuple(line.split("|")) for line in out.splitlines()]


def lines_pg(pg: Postgres) -> list[tuple[str, ...]]:
    out = pg.sql("SELECT order_id, line FROM order_lines ORDER BY 1, 2", "app")
    return [tuple(line.split("|")) for line in out.splitlines()]


def orders_maria(db: MariaDB) -> list[tuple[str, ...]]:
    out = db.sql("SELECT id, note FROM orders WHERE id > 0 ORDER BY id", "app")
    return [tuple(line.split("\t")) for line in out.splitlines()]


def lines_maria(db: MariaDB) -> list[tuple[str, ...]]:
    out = db.sql("SELECT order_id, line FROM order_lines ORDER BY 1, 2", "app")
    return [tuple(line.split("\t")) for line in out.splitlines()]


def orders_sqlite(path: Path) -> list[tuple[str, ...]]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT id, note FROM orders WHERE id > 0 ORDER BY id").fetchall()
        lines = db.execute("SELECT order_id, line FROM order_lines ORDER BY 1, 2").fetchall()
    finally:
        db.close()
    return [(str(i), n) for i, n in rows] + [("line", str(o), str(k)) for o, k in lines]


def assert_prefix_restored(
    source: list[tuple[str, ...]], restored: list[tuple[str, ...]], acked: set[int]
) -> None:
    """Restored = the source's rows up to some id; that id covers every acked row."""
    restored_ids = [int(r[0]) for r in restored]
    assert acked <= set(restored_ids), f"acknowledged rows missing: {acked - set(restored_ids)}"
    last = max(restored_ids)
    assert restored == [r for r in source if int(r[0]) <= last]


def test_backup_under_writes_restores_every_acknowledged_row_on_fresh_servers() -> None:
    with (
        postgres_server() as pg,
        mariadb_server() as maria,
        postgres_server() as pg2,
        mariadb_server() as maria2,
        temp_dir("roundtrip") as root,
    ):
        pg2.sql("CREATE DATABASE app")
        maria2.sql("CREATE DATABASE app")
        create_orders_pg(pg, "app", PRELOAD)
        create_orders_maria(maria, "app", PRELOAD)
        lite = root / "lite.db"
        sqlite_create(lite, PRELOAD)
        uploads = root / "uploads"
        (uploads / "2026").mkdir(parents=True)
        (uploads / "2026/report.pdf").write_bytes(bytes(range(256)) * 100)
        (uploads / "logo.png").write_bytes(b"\x89PNG fake")

        (root / "prod").mkdir()
        prod = BackupHost(root / "prod", sources_for(pg, maria, lite, uploads), hostname="prod")
        prod.ok("mailstack-backup", "init")

        writers = [pg_writer(pg, "app"), mariadb_writer(maria, "app"), sqlite_writer(lite)]
        for w in writers:
            w.start()
        for w in writers:
            w.wait_acked(5)
        started = time.monotonic()
        prod.ok("mailstack-backup")
        finished = time.monotonic()
        time.sleep(0.5)
        for w in writers:
            w.stop()
        # The writers really did commit while the backup ran.
        for w in writers:
            assert any(started < t < finished for _, t in w.acked)

        (root / "dev").mkdir()
        lite2 = root / "fresh/lite.db"
        uploads2 = root / "fresh/uploads"
        dev = BackupHost(root / "dev", sources_for(pg2, maria2, lite2, uploads2), hostname="dev")
        dev.ok("mailstack-backup", "init")
        dev.ok("mailstack-restore", "--from", str(prod.from_file()), "latest")

        pg_acked, maria_acked, lite_acked = (w.acked_before(started) for w in writers)
        assert_prefix_restored(orders_pg(pg), orders_pg(pg2), pg_acked)
        assert_prefix_restored(orders_maria(maria), orders_maria(maria2), maria_acked)
        # One snapshot of all tables: every restored order has its lines, no orphans.
        pg_orders = {int(r[0]) for r in orders_pg(pg2)}
        assert {int(o) for o, _ in lines_pg(pg2)} == pg_orders
        maria_orders = {int(r[0]) for r in orders_maria(maria2)}
        assert {int(o) for o, _ in lines_maria(maria2)} == maria_orders
        assert pg2.sql("SELECT count(*) FROM orders WHERE id < 0", "app") == str(PRELOAD)
        assert maria2.sql("SELECT count(*) FROM orders WHERE id < 0", "app") == str(PRELOAD)

        source_lite = orders_sqlite(lite)
        restored_lite = orders_sqlite(lite2)
        restored_orders = [r for r in restored_lite if r[0] != "line"]
        assert_prefix_restored(
            [r for r in source_lite if r[0] != "line"], restored_orders, lite_acked
        )
        restored_ids = {r[0] for r in restored_orders}
        assert {r[1] for r in restored_lite if r[0] == "line"} == restored_ids

        assert file_tree(uploads2) == file_tree(uploads)
        # Another host's data: the drill hook ran before the app could start.
        assert dev.app_log.read_text().split() == ["stop", "drill", "start", "health"]
        # The safety snapshot of the (empty) dev data went to dev's own repository.
        assert len(dev.snapshot_ids("--tag", "pre-restore")) == 1
        assert prod.snapshot_ids("--tag", "pre-restore") == []


def test_drill_restores_from_a_read_only_repository() -> None:
    """The drill's key for prod's bucket may be read-only: no lock may be needed."""
    with temp_dir("drill-ro") as root:
        lite = root / "lite.db"
        sqlite_create(lite, 100)
        uploads = root / "uploads"
        uploads.mkdir()
        (uploads / "a.txt").write_text("from prod")
        (root / "prod").mkdir()
        prod = BackupHost(root / "prod", sources_for(sqlite_path=lite, files=uploads))
        prod.ok("mailstack-backup", "init")
        prod.ok("mailstack-backup")

        (root / "dev").mkdir()
        lite2, uploads2 = root / "fresh/lite.db", root / "fresh/uploads"
        dev = BackupHost(root / "dev", sources_for(sqlite_path=lite2, files=uploads2))
        dev.ok("mailstack-backup", "init")
        with read_only(Path(prod.repository)) as wrap:
            dev.wrap = wrap
            # The repository really is read-only for the restore: under the
            # same words, a lock file cannot be written.
            lock = Path(prod.repository) / "locks" / "probe"
            probe = subprocess.run([*wrap, "touch", str(lock)], capture_output=True, check=False)
            assert probe.returncode != 0
            assert not lock.exists()
            dev.ok("mailstack-restore", "--from", str(prod.from_file()), "latest")

        assert orders_sqlite(lite2) == orders_sqlite(lite)
        assert (uploads2 / "a.txt").read_text() == "from prod"


def _lite_volume(root: Path) -> tuple[Path, tuple[BackupSource, ...]]:
    """A volume as transactional-api has it: a live SQLite database among other files."""
    vol = root / "app-data"
    db = vol / "app.db"
    sources = (
        BackupSource(SourceKind.SQLITE, "app-data-app-db", str(db)),
        BackupSource(
            SourceKind.FILES,
            "app-data",
            str(vol),
            exclude=tuple(f"{db}{suffix}" for suffix in SQLITE_SIDECARS),
        ),
    )
    return vol, sources


def test_sqlite_in_a_file_volume_is_copied_once_consistently_and_keeps_its_owner() -> None:
    with temp_dir("lite-volume") as root:
        (root / "prod").mkdir()
        vol, sources = _lite_volume(root / "prod")
        (vol / "attachments").mkdir(parents=True)
        (vol / "attachments/1.eml").write_text("Subject: hi\n")
        db = vol / "app.db"
        sqlite_create(db, 100)
        # As root, owned by another user (the app's), which a restore must keep.
        owner = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
        os.chown(vol, owner, -1)
        os.chown(db, owner, -1)
        db.chmod(0o640)
        writer = sqlite_writer(db)
        writer.start()
        writer.wait_acked(5)
        prod = BackupHost(root / "prod", sources, hostname="prod")
        prod.ok("mailstack-backup", "init")
        started = time.monotonic()
        prod.ok("mailstack-backup")
        writer.stop()
        assert Path(f"{db}-wal").exists()  # the raw copy would have caught a live WAL

        listed = set(prod.restic("ls", "latest").stdout.split())
        assert str(vol / "attachments/1.eml") in listed
        assert not {str(db) + suffix for suffix in SQLITE_SIDECARS} & listed

        # The live volume moves on; the restore brings back the snapshot.
        (vol / "attachments/2.eml").write_text("Subject: later\n")
        (vol / "cache").mkdir()
        (vol / "cache/x").write_text("x")
        sqlite3_exec(db, "INSERT INTO orders VALUES (999999, 'after the backup')")
        live = [r for r in orders_sqlite(db) if r[0] != "line"]
        prod.ok("mailstack-restore", "latest")
        backed_up = orders_sqlite(db)
        restored = [r for r in backed_up if r[0] != "line"]
        assert_prefix_restored(live, restored, writer.acked_before(started))
        assert ("999999", "after the backup") not in restored
        assert {r[1] for r in backed_up if r[0] == "line"} == {r[0] for r in restored}
        assert sorted(str(p.relative_to(vol)) for p in vol.rglob("*")) == [
            "app.db",
            "attachments",
            "attachments/1.eml",
        ]
        assert (db.stat().st_uid, stat.S_IMODE(db.stat().st_mode)) == (owner, 0o640)

        # Onto a fresh host: the database goes to the owner of its restored directory.
        (root / "dev").mkdir()
        dev_vol, dev_sources = _lite_volume(root / "dev")
        dev = BackupHost(root / "dev", dev_sources, hostname="dev")
        dev.ok("mailstack-backup", "init")
        dev.ok("mailstack-restore", "--from", str(prod.from_file()), "latest")
        dev_db = dev_vol / "app.db"
        assert orders_sqlite(dev_db) == backed_up
        assert (dev_vol / "attachments/1.eml").read_text() == "Subject: hi\n"
        assert (dev_db.stat().st_uid, stat.S_IMODE(dev_db.stat().st_mode)) == (owner, 0o600)


def sqlite3_exec(path: Path, statement: str) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    with db:
        db.execute(statement)
    db.close()
