"""A restore loads each database once, beside the live one, and swaps it in.

The swap must keep what the live database had around its data (PostgreSQL:
its owner; MariaDB: its character set), leave no side or old database behind,
get past sessions still open on the live database, and lose nothing when it
fails midway: a failed rename changes nothing, and a failure after the swap
leaves the data from before in the safety snapshot (and in the old databases
until the operator drops them).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.backup_sources import AppControl, BackupSource, SourceKind
from tests.e2e.backup_support import (
    BackupHost,
    MariaDB,
    Postgres,
    create_orders_maria,
    create_orders_pg,
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
    host: BackupHost
    root: Path

    def databases(self) -> tuple[str, str]:
        return (
            self.pg.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
            self.maria.sql("SHOW DATABASES"),
        )

    def rows(self) -> tuple[str, str]:
        query = "SELECT count(*) FROM orders WHERE id = 1"
        return self.pg.sql(query, "app"), self.maria.sql(query, "app")


def _host(
    root: Path, pg: Postgres, maria: MariaDB, lite: Path, pg_client: tuple[str, ...] = ()
) -> BackupHost:
    sources = list(sources_for(pg, maria, lite))
    if pg_client:
        sources[0] = BackupSource(SourceKind.POSTGRES, "pg", "app", pg_client)
    (root / "host").mkdir(exist_ok=True)
    return BackupHost(root / "host", tuple(sources))


@pytest.fixture
def live() -> Iterator[Live]:
    with postgres_server() as pg, mariadb_server() as maria, temp_dir("swap") as root:
        create_orders_pg(pg, "app", 2000)
        pg.sql("CREATE ROLE app_owner")
        pg.sql("ALTER DATABASE app OWNER TO app_owner")
        create_orders_maria(maria, "app", 2000)
        maria.sql("ALTER DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        lite = root / "lite.db"
        sqlite_create(lite, 10)
        host = _host(root, pg, maria, lite)
        host.ok("mailstack-backup", "init")
        host.ok("mailstack-backup")
        pg.sql("INSERT INTO orders VALUES (1, 'after the backup')", "app")
        maria.sql("INSERT INTO orders VALUES (1, 'after the backup')", "app")
        yield Live(pg, maria, lite, host, root)


def test_swap_keeps_owner_and_charset_gets_past_open_sessions_and_leaves_nothing(
    live: Live,
) -> None:
    databases = live.databases()
    # A session left open on the live database (a psql someone forgot) must not block.
    session = subprocess.Popen(
        [*live.pg.client, "psql", "-X", "-q", "-d", "app"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert session.stdin is not None
    session.stdin.write("SELECT 1;\n")
    session.stdin.flush()
    connected = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 60
    while live.pg.sql(connected) == "0":
        assert time.monotonic() < deadline, "the open session never connected"
        time.sleep(0.1)
    try:
        result = live.host.ok("mailstack-restore", "latest")
    finally:
        session.kill()
        session.wait()

    assert live.rows() == ("0", "0")
    assert live.pg.sql("SELECT count(*) FROM orders", "app") == "2000"
    assert live.maria.sql("SELECT count(*) FROM orders", "app") == "2000"
    # Loaded once: the dump went into the side database only, never into `app`.
    assert result.stderr.count("into mailstack_verify_pg") == 1
    assert "loading it into app again" not in result.stderr
    owner = live.pg.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'")
    assert owner == "app_owner"
    charset = live.maria.sql(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'"
    )
    assert charset.split() == ["utf8mb4", "utf8mb4_bin"]
    assert live.databases() == databases
    assert live.host.app_log.read_text().split() == ["stop", "start", "health"]


def test_a_failed_rename_changes_nothing(live: Live) -> None:
    """The second rename of the PostgreSQL swap fails (a wrapper points it at an
    existing name): the first one must be rolled back with it."""
    wrapper = live.root / "fail-second-rename"
    wrapper.write_text(
        "#!/bin/bash\nargs=()\n"
        'for a in "$@"; do args+=("${a//RENAME TO \\"app\\"/RENAME TO template1}"); done\n'
        'exec "${args[@]}"\n'
    )
    wrapper.chmod(0o755)
    host = _host(live.root, live.pg, live.maria, live.lite, (str(wrapper), *live.pg.client))
    databases = live.databases()
    result = host.script("mailstack-restore", "latest")
    assert result.returncode != 0
    assert "restore FAILED after the app was stopped" in result.stderr
    assert "already exists" in result.stderr
    # `app` still holds the live data, and no side or old database is left.
    assert live.pg.sql("SELECT count(*) FROM orders WHERE id = 1", "app") == "1"
    assert live.pg.sql("SELECT count(*) FROM orders", "app") == "2001"
    assert live.databases()[0] == databases[0]


def test_a_failure_after_the_swap_loses_nothing(live: Live) -> None:
    live.host.app = AppControl(
        stop="true", start="exit 3", health="true", health_timeout_seconds=10, drill="true"
    )
    live.host.write_config()
    result = live.host.script("mailstack-restore", "latest")
    assert result.returncode != 0
    assert "restore FAILED after the app was stopped" in result.stderr
    assert "mailstack_old_pg" in result.stderr and "mailstack_old_maria" in result.stderr
    # The data from before is in the old databases...
    assert live.pg.sql("SELECT count(*) FROM orders WHERE id = 1", "mailstack_old_pg") == "1"
    assert live.maria.sql("SELECT count(*) FROM orders WHERE id = 1", "mailstack_old_maria") == "1"
    # ...and in the safety snapshot, which restores it.
    (safety,) = live.host.snapshot_ids("--tag", "pre-restore")
    live.host.app = None
    live.host.write_config()
    live.host.ok("mailstack-restore", safety)
    assert live.rows() == ("1", "1")
    pg_dbs, maria_dbs = live.databases()
    assert "mailstack_old" not in pg_dbs and "mailstack_old" not in maria_dbs
    assert "mailstack_verify" not in pg_dbs and "mailstack_verify" not in maria_dbs


def test_mariadb_with_a_trigger_is_loaded_again_instead_of_renamed(live: Live) -> None:
    live.maria.sql(
        "CREATE TABLE audit (n INT); CREATE TRIGGER orders_audit AFTER INSERT ON orders "
        "FOR EACH ROW INSERT INTO audit VALUES (NEW.id)",
        "app",
    )
    live.host.ok("mailstack-backup")
    live.maria.sql("INSERT INTO orders VALUES (2, 'after the second backup')", "app")
    result = live.host.ok("mailstack-restore", "latest")
    assert "mariadb 'maria' has views, triggers, routines or events" in result.stderr
    assert live.maria.sql("SELECT count(*) FROM orders WHERE id = 2", "app") == "0"
    assert live.maria.sql("SELECT count(*) FROM orders WHERE id = 1", "app") == "1"
    triggers = live.maria.sql(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'app'"
    )
    assert triggers == "orders_audit"
    assert "mailstack_verify" not in live.databases()[1]
