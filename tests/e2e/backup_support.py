"""Real database servers and the backup scripts, for the backup e2e tests.

Each server is a throwaway instance in its own temp dir, reachable only over a
unix socket there (no TCP port, so nothing collides with the system services or
other tests). PostgreSQL refuses to run as root, so when the tests run as root
the servers run as `nobody`. The scripts get their config from the same
renderer Pulumi uses (`render_config`), pointed at these instances.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common.layout import HostLayout
from components.backup import ASSETS, BackupSettings, render_config
from components.backup_sources import AppControl, BackupSource, SourceKind

DB_USER = "nobody"
PASSWORD = "correct horse battery staple"


def _pg_bin(tool: str) -> str:
    """PostgreSQL's server tools are not on PATH on Debian."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    if not found:
        raise FileNotFoundError(f"{tool}: install Debian's postgresql package")
    return str(found[-1])


def _as_db_user(argv: Sequence[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", DB_USER, "--", *argv]
    return list(argv)


def _give_to_db_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, DB_USER)


def run(argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temp dir the unprivileged DB user can traverse (pytest's are root-only)."""
    path = Path(tempfile.mkdtemp(prefix=f"backup-e2e-{prefix}-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Postgres:
    """A PostgreSQL instance listening on a unix socket in `root`."""

    root: Path

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def client(self) -> tuple[str, ...]:
        return ("env", f"PGHOST={self.socket_dir}", "PGUSER=postgres")

    def start(self) -> None:
        data = self.root / "data"
        for d in (data, self.socket_dir):
            d.mkdir()
            _give_to_db_user(d)
        run(_as_db_user([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]))
        run(
            _as_db_user(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-l",
                    str(data / "server.log"),
                    "-o",
                    f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off",
                    "start",
                ]
            )
        )

    def stop(self) -> None:
        subprocess.run(
            _as_db_user([_pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"]),
            capture_output=True,
            check=False,
        )

    def sql(self, query: str, database: str = "postgres") -> str:
        return run(
            [*self.client, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database],
            input=query,
        ).stdout.strip()


@dataclass
class MariaDB:
    """A MariaDB instance with `--skip-networking`, socket in `root`."""

    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def client(self) -> tuple[str, ...]:
        # The clients read ~/.my.cnf: socket and user without any quoting.
        return ("env", f"HOME={self.home}")

    def start(self) -> None:
        data = self.root / "data"
        data.mkdir()
        _give_to_db_user(data)
        _give_to_db_user(self.root)
        self.home.mkdir()
        (self.home / ".my.cnf").write_text(f"[client]\nuser=root\nsocket={self.socket}\n")
        user = ["--user=" + DB_USER] if os.geteuid() == 0 else []
        run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ]
        )
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.root / 'error.log'}",
                "--skip-networking",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=2",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            ping = subprocess.run(
                [*self.client, "mariadb-admin", "ping"], capture_output=True, check=False
            )
            if ping.returncode == 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError((self.root / "error.log").read_text())
            time.sleep(0.1)
        raise RuntimeError("mariadbd did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def sql(self, query: str, database: str = "") -> str:
        return run(
            [*self.client, "mariadb", "-N", "-B", *([database] if database else [])], input=query
        ).stdout.strip()

    def set_root_password(self, password: str) -> None:
        """Give root@localhost a password, as the official image's entrypoint does."""
        if any(c in password for c in "'\"\\\n"):
            raise ValueError("test passwords hold no quotes, backslashes or newlines")
        self.sql(f"ALTER USER root@localhost IDENTIFIED BY '{password}'")
        cnf = self.home / ".my.cnf"
        cnf.write_text(cnf.read_text() + f'password="{password}"\n')
        cnf.chmod(0o600)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    with temp_dir("pg") as root:
        server = Postgres(root)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@contextmanager
def mariadb_server() -> Iterator[MariaDB]:
    with temp_dir("mariadb") as root:
        server = MariaDB(root)
        try:
            server.start()
            yield server
        finally:
            server.stop()


# --- the scripts --------------------------------------------------------------------


@dataclass
class BackupHost:
    """One host's backup setup: config, repository, secrets and markers in `root`."""

    root: Path
    sources: tuple[BackupSource, ...]
    repository: str = ""
    hostname: str = "mailstack-test"
    keep: tuple[int, int, int] = (7, 4, 12)
    password: str = PASSWORD
    heartbeat_url: str = ""
    max_age_hours: int = 26
    env: dict[str, str] = field(default_factory=dict)
    wrap: tuple[str, ...] = ()
    """Words the scripts run under (e.g. `read_only_wrapper`)."""
    app: AppControl | None = None
    """How a restore stops and starts the app; by default each call is a line
    in `app_log`."""

    def __post_init__(self) -> None:
        self.repository = self.repository or str(self.root / "repo")
        self.write_config()

    @property
    def paths(self) -> HostLayout:
        r = self.root
        # Staging and restore areas below `r/backup/`, as on the data volume.
        return HostLayout(
            data_dir=str(r),
            config_file=str(r / "backup.conf"),
            secrets_dir=str(r / "secrets"),
            state_dir=str(r / "state"),
            metrics_dir=str(r / "state/metrics"),
            lock_file=str(r / "backup.lock"),
        )

    @property
    def app_log(self) -> Path:
        """Every stop/start/health call of the app, one line each."""
        return self.root / "app.log"

    def write_config(self) -> None:
        paths = self.paths
        log = self.app_log
        settings = BackupSettings(
            repository=self.repository,
            hostname=self.hostname,
            sources=self.sources,
            keep_daily=self.keep[0],
            keep_weekly=self.keep[1],
            keep_monthly=self.keep[2],
            max_age_hours=self.max_age_hours,
            heartbeat_url=self.heartbeat_url,
            app=self.app
            or AppControl(
                stop=f"echo stop >> {log}",
                start=f"echo start >> {log}",
                health=f"echo health >> {log}",
                health_timeout_seconds=10,
                drill=f"echo drill >> {log}",
            ),
            paths=paths,
            uses_credentials=False,
        )
        Path(paths.config_file).write_text(render_config(settings))
        secrets = Path(paths.secrets_dir)
        secrets.mkdir(mode=0o700, exist_ok=True)
        Path(paths.password_file).write_text(self.password + "\n")
        Path(paths.password_file).chmod(0o600)

    def restic_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RESTIC_REPOSITORY": self.repository,
            "RESTIC_PASSWORD_FILE": self.paths.password_file,
            "RESTIC_CACHE_DIR": str(self.root / "cache"),
            "TZ": "UTC",
        }

    def script(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the scripts from assets/ (not raising on failure), with the
        units' `UMask=0077`."""
        env = {
            **os.environ,
            "RESTIC_CACHE_DIR": str(self.root / "cache"),
            "TZ": "UTC",
            **self.env,
        }
        return subprocess.run(
            [*self.wrap, str(ASSETS / name), "--config", self.paths.config_file, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            umask=0o077,
        )

    def ok(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.script(name, *args)
        assert result.returncode == 0, f"{name} {args} failed:\n{result.stderr}"
        return result

    def restic(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(["restic", *args], env=self.restic_env())

    def snapshot_ids(self, *filters: str) -> list[str]:
        import json

        out = self.restic("snapshots", "--json", *filters).stdout
        return [s["short_id"] for s in json.loads(out)]

    def state(self) -> dict[str, bytes]:
        """The markers and metrics, to assert a failed run left them alone."""
        state = Path(self.paths.state_dir)
        if not state.exists():
            return {}
        return {
            str(p.relative_to(state)): p.read_bytes()
            for p in sorted(state.rglob("*"))
            if p.is_file() and "failure" not in p.name
        }

    def from_file(self) -> Path:
        """A --from file for mailstack-restore reading this host's repository."""
        path = self.root / "from.conf"
        path.write_text(
            f"RESTIC_REPOSITORY={self.repository}\n"
            f"RESTIC_PASSWORD_FILE={self.paths.password_file}\n"
            f"BACKUP_HOSTNAME={self.hostname}\n"
        )
        return path


@contextmanager
def read_only(path: Path) -> Iterator[tuple[str, ...]]:
    """Make `path` read-only (`chmod -R a-w`); yield the words to run a command under.

    Root ignores mode bits, so as root the words also run the command in its own
    mount namespace with `path` bind-mounted read-only (`unshare -m`, needs
    CAP_SYS_ADMIN): a write fails there as it would with a read-only S3 key.
    """
    run(["chmod", "-R", "a-w", str(path)])
    remount = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    try:
        yield ("unshare", "-m", "sh", "-c", remount, "-", str(path)) if os.geteuid() == 0 else ()
    finally:
        run(["chmod", "-R", "u+w", str(path)])


# --- writers: insert while the backup runs, remember what was acknowledged -------------


@dataclass
class Writer:
    """Inserts (order, two lines) transactions in a loop; records acknowledged ids."""

    insert: Callable[[int], None]
    acked: list[tuple[int, float]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def _loop(self) -> None:
        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                self.insert(n)
                self.acked.append((n, time.monotonic()))
        except BaseException as err:  # surfaced by stop()
            self.error = err

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def wait_acked(self, count: int, timeout: float = 120) -> None:
        """Until `count` transactions are acknowledged; a writer that died raises its error."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.acked)} of {count} writes within {timeout} s")
            time.sleep(0.05)

    def acked_before(self, moment: float) -> set[int]:
        return {n for n, t in self.acked if t < moment}

    def stop(self) -> None:
        self.stop_event.set()
        assert self.thread is not None
        self.thread.join(timeout=60)
        if self.error is not None:
            raise self.error


ORDERS_DDL = (
    "CREATE TABLE orders (id INT PRIMARY KEY, note TEXT NOT NULL);"
    "CREATE TABLE order_lines (order_id INT NOT NULL, line INT NOT NULL, "
    "PRIMARY KEY (order_id, line));"
)


def create_orders_pg(pg: Postgres, database: str, preload: int) -> None:
    """The orders schema, with `preload` rows of negative id so dumps take a while."""
    pg.sql(f"CREATE DATABASE {database}")
    pg.sql(ORDERS_DDL, database)
    pg.sql(
        f"INSERT INTO orders SELECT -g, repeat('x', 200) FROM generate_series(1, {preload}) g",  # noqa: S608
        database,
    )


def create_orders_maria(db: MariaDB, database: str, preload: int) -> None:
    db.sql(f"CREATE DATABASE {database}")
    db.sql(
        ORDERS_DDL + f"INSERT INTO orders SELECT -seq, REPEAT('x', 200) FROM seq_1_to_{preload};",  # noqa: S608
        database,
    )


def pg_writer(pg: Postgres, database: str) -> Writer:
    def insert(n: int) -> None:
        pg.sql(
            f"BEGIN; INSERT INTO orders VALUES ({n}, 'order {n}');"  # noqa: S608
            f"INSERT INTO order_lines VALUES ({n}, 1), ({n}, 2); COMMIT;",
            database,
        )

    return Writer(insert)


def mariadb_writer(db: MariaDB, database: str) -> Writer:
    def insert(n: int) -> None:
        db.sql(
            f"START TRANSACTION; INSERT INTO orders VALUES ({n}, 'order {n}');"  # noqa: S608
            f"INSERT INTO order_lines VALUES ({n}, 1), ({n}, 2); COMMIT;",
            database,
        )

    return Writer(insert)


def sqlite_writer(path: Path) -> Writer:
    local = threading.local()

    def insert(n: int) -> None:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(path, timeout=60)
        with local.db:
            local.db.execute("INSERT INTO orders VALUES (?, ?)", (n, f"order {n}"))
            local.db.executemany("INSERT INTO order_lines VALUES (?, ?)", [(n, 1), (n, 2)])

    return Writer(insert)


def sqlite_create(path: Path, preload: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(ORDERS_DDL)
    with db:
        db.executemany(
            "INSERT INTO orders VALUES (?, ?)", ((-i, "x" * 200) for i in range(1, preload + 1))
        )
    db.close()


def file_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def sources_for(
    pg: Postgres | None = None,
    maria: MariaDB | None = None,
    sqlite_path: Path | None = None,
    files: Path | None = None,
    database: str = "app",
) -> tuple[BackupSource, ...]:
    sources = []
    if pg is not None:
        sources.append(BackupSource(SourceKind.POSTGRES, "pg", database, pg.client))
    if maria is not None:
        sources.append(BackupSource(SourceKind.MARIADB, "maria", database, maria.client))
    if sqlite_path is not None:
        sources.append(BackupSource(SourceKind.SQLITE, "lite", str(sqlite_path)))
    if files is not None:
        sources.append(BackupSource(SourceKind.FILES, "uploads", str(files)))
    return tuple(sources)
