"""The SelfMX-style example's two SQLite files survive a backup and restore while
writers commit: the backup sources are the ones the example's config declares
(`appDataPaths`, `appSqliteFiles`), run through the real backup scripts."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pulumi_command as command

from common.layout import HostLayout
from components.backup_sources import BackupSource, SourceKind, sources_from_project
from components.host import Host
from components.services.project import build_project
from mailstack.config import load_config
from mailstack.wiring import services_args
from tests.e2e.backup_support import BackupHost, sqlite_create, sqlite_writer, temp_dir
from tests.e2e.test_backup_roundtrip import assert_prefix_restored, orders_sqlite
from tools.harness import ROOT, read_stack_config, run_program
from tools.synth import with_placeholder_secrets


def _example_sources(volume_root: Path) -> tuple[BackupSource, ...]:
    """The example's app-data sources, with its volumes under `volume_root`."""
    captured = []

    def program() -> None:
        host = Host(
            "server",
            connection=command.remote.ConnectionArgs(host="192.0.2.10", user="mailstack"),
            layout=HostLayout.for_stack("selfmx"),
        )
        captured.append(services_args(load_config(), host))

    config, secret_keys = read_stack_config("selfmx", stack_file=ROOT / "examples" / "selfmx.yaml")
    with_placeholder_secrets(config, secret_keys)
    run_program("selfmx", config, secret_keys, program=program)
    stack = replace(captured[0].stack, volume_root=str(volume_root))
    sources = sources_from_project(
        build_project(stack).project, str(volume_root.parent / "compose")
    )
    return tuple(s for s in sources if s.target.startswith(str(volume_root / "app-data")))


def test_both_sqlite_files_survive_backup_and_restore_under_writes() -> None:
    with temp_dir("selfmx-sqlite") as root:
        (root / "prod").mkdir()
        volumes = root / "prod" / "volumes"
        sources = _example_sources(volumes)
        databases = sorted(Path(s.target) for s in sources if s.kind is SourceKind.SQLITE)
        assert [p.relative_to(volumes) for p in databases] == [
            Path("app-data/jobs/hangfire.db"),
            Path("app-data/selfmx.db"),
        ]
        for db in databases:
            db.parent.mkdir(parents=True, exist_ok=True)
            sqlite_create(db, 100)
        writers = [sqlite_writer(db) for db in databases]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.wait_acked(5)
        prod = BackupHost(root / "prod", sources, hostname="selfmx")
        prod.ok("mailstack-backup", "init")
        started = time.monotonic()
        prod.ok("mailstack-backup")
        for writer in writers:
            writer.stop()
        live = {db: [r for r in orders_sqlite(db) if r[0] != "line"] for db in databases}
        prod.ok("mailstack-restore", "latest")
        for db, writer in zip(databases, writers, strict=True):
            restored = [r for r in orders_sqlite(db) if r[0] != "line"]
            assert_prefix_restored(live[db], restored, writer.acked_before(started))
