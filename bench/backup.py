"""Backup and restore time of a ~1 GB PostgreSQL database, next to `pg_dump | gzip`.

    .venv/bin/python -m bench.backup [--gb 1.0] [--runs 3]

One throwaway PostgreSQL instance (as in the e2e tests), filled once to about
`--gb` of on-disk size. Each run, side by side on the same data:

- bare backup:  `pg_dump app | gzip > app.sql.gz`
- bare restore: `gunzip -c app.sql.gz | psql` into a new database
- mailstack cold backup: `mailstack-backup run` into a new, empty restic repository
  (pg_dump -Fc, TOC read-back, restic backup, forget --prune)
- mailstack warm backup: the same again, data unchanged (restic deduplicates)
- mailstack restore: `mailstack-restore latest`, the whole thing: restic check,
  restore into a temp dir, checksum, one load into a side database (the safety
  snapshot is taken meanwhile), the swap

Prints the median of each over the runs and the ratios to the bare commands.
Run by hand, not in the test suite: it takes minutes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.backup_support import (
    BackupHost,
    Postgres,
    postgres_server,
    sources_for,
    temp_dir,
)

INSERT_EVENTS = (
    "INSERT INTO events SELECT g, now() - g * interval '1 second', g % 17, "
    "md5(g::text), repeat(md5((g * 7)::text), 3) FROM BATCH g"
)


def fill(pg: Postgres, gb: float) -> str:
    """Rows of mixed, partly compressible data until the database is ~gb on disk."""
    pg.sql("CREATE DATABASE app")
    pg.sql(
        "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, "
        "kind int NOT NULL, token text NOT NULL, body text NOT NULL)",
        "app",
    )
    rows_per_batch = 500_000
    target = int(gb * 1024**3)
    start = 0
    while int(pg.sql("SELECT pg_database_size('app')")) < target:
        batch = f"generate_series({start + 1}, {start + rows_per_batch})"
        pg.sql(INSERT_EVENTS.replace("BATCH", batch), "app")
        start += rows_per_batch
    pg.sql("VACUUM ANALYZE events", "app")
    return pg.sql("SELECT pg_size_pretty(pg_database_size('app'))")


def timed(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def shell(pg: Postgres, script: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", script], check=True, env=_pg_env(pg))


def _pg_env(pg: Postgres) -> dict[str, str]:
    import os

    return {**os.environ, "PGHOST": str(pg.socket_dir), "PGUSER": "postgres"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="database size on disk")
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of")
    args = parser.parse_args()

    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds)
        print(f"  {name:<26} {seconds:7.1f} s", flush=True)

    with postgres_server() as pg, temp_dir("bench") as root:
        print(f"filling the database: {fill(pg, args.gb)} on disk", flush=True)
        gz = root / "app.sql.gz"
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}", flush=True)
            record("bare pg_dump | gzip", timed(shell, pg, f"pg_dump app | gzip > {gz}"))
            pg.sql("DROP DATABASE IF EXISTS bare_restore")
            pg.sql("CREATE DATABASE bare_restore")
            record(
                "bare gunzip | psql",
                timed(shell, pg, f"gunzip -c {gz} | psql -q -X -d bare_restore >/dev/null"),
            )
            host_dir = root / f"host{run}"
            host_dir.mkdir()
            host = BackupHost(host_dir, sources_for(pg), hostname="bench")
            host.ok("mailstack-backup", "init")
            record("mailstack backup (cold)", timed(host.ok, "mailstack-backup"))
            record("mailstack backup (warm)", timed(host.ok, "mailstack-backup"))
            record("mailstack restore", timed(host.ok, "mailstack-restore", "latest"))
            repo_size = sum(
                p.stat().st_size for p in Path(host.repository).rglob("*") if p.is_file()
            )
            results.setdefault("restic repository MB", []).append(repo_size / 1024**2)
            shutil.rmtree(host_dir)
        results.setdefault("gzip dump MB", []).append(gz.stat().st_size / 1024**2)

    print(f"\nmedian of {args.runs} run(s):")
    med = {name: statistics.median(values) for name, values in results.items()}
    for name, value in med.items():
        unit = "MB" if name.endswith("MB") else "s"
        print(f"  {name:<26} {value:8.1f} {unit}")
    dump, load = med["bare pg_dump | gzip"], med["bare gunzip | psql"]
    print(f"  backup cold / bare dump   {med['mailstack backup (cold)'] / dump:8.2f}x")
    print(f"  backup warm / bare dump   {med['mailstack backup (warm)'] / dump:8.2f}x")
    print(f"  restore / bare load       {med['mailstack restore'] / load:8.2f}x")


if __name__ == "__main__":
    main()
