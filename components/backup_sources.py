"""What a backup saves and how a restore stops and starts the app, read off the services.

Pure: from the compose `Project` to the `BackupSource`s the backup scripts
dump (each database through its own container, SQLite files with VACUUM INTO,
every other writable mount as files) and the `AppControl` commands a restore
runs around the load.
"""

from __future__ import annotations

import enum
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.services.model import Project, Role, Service

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DATABASE_RE = re.compile(r"^[A-Za-z0-9_]+$")
_WORD_RE = re.compile(r"^[^\s'\"\\]+$")
_PATH_RE = re.compile(r"^/[^\s'\"\\]*$")
# Excluded paths become restic patterns: no glob characters.
_EXCLUDE_RE = re.compile(r"^/[\w./-]+$", re.ASCII)
SQLITE_SIDECARS = ("", "-wal", "-shm", "-journal")
"""A SQLite database file and the files SQLite keeps next to it."""


class SourceKind(enum.StrEnum):
    POSTGRES = "postgres"
    """`pg_dump --format=custom` of one database; restored with `pg_restore`."""
    MARIADB = "mariadb"
    """`mariadb-dump --single-transaction` of one database (InnoDB tables)."""
    SQLITE = "sqlite"
    """`sqlite3 VACUUM INTO` copy of a database file on the host."""
    FILES = "files"
    """A directory on the host (object storage data, uploads, proxy certificates), as is."""


@dataclass(frozen=True)
class BackupSource:
    """One thing the backup job saves, and how it reaches it."""

    kind: SourceKind
    name: str
    """Unique label, `[a-z0-9-]+`; names the dump inside the snapshot."""
    target: str
    """Database name (postgres, mariadb) or absolute path on the host (sqlite, files)."""
    client: tuple[str, ...] = ()
    """Words that run the database's client tools, the tool's name and arguments
    appended (e.g. `docker compose -p mailstack exec -T postgres`). Empty: the
    tools on the host's PATH. No quoting: each word is taken literally."""
    exclude: tuple[str, ...] = ()
    """Files sources: paths under `target` left out of the copy (and kept in
    place by a restore), e.g. a SQLite database saved by its own source."""

    def __post_init__(self) -> None:
        where = f"backup source {self.name!r}"
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"{where}: name must match {_NAME_RE.pattern}")
        self._check_target(where)
        self._check_client(where)
        self._check_exclude(where)

    def _check_target(self, where: str) -> None:
        if self.kind in (SourceKind.POSTGRES, SourceKind.MARIADB):
            if not _DATABASE_RE.fullmatch(self.target):
                raise ValueError(f"{where}: {self.target!r} is not a plain database name")
        elif not _PATH_RE.fullmatch(self.target):
            raise ValueError(f"{where}: {self.target!r} is not an absolute path without spaces")

    def _check_client(self, where: str) -> None:
        if self.client and self.kind in (SourceKind.SQLITE, SourceKind.FILES):
            raise ValueError(f"{where}: {self.kind.value} sources are read on the host directly")
        bad = [w for w in self.client if not _WORD_RE.fullmatch(w)]
        if bad:
            raise ValueError(f"{where}: client words cannot hold spaces or quotes: {bad}")

    def _check_exclude(self, where: str) -> None:
        if self.exclude and self.kind is not SourceKind.FILES:
            raise ValueError(f"{where}: only files sources exclude paths")
        outside = [
            p
            for p in self.exclude
            if not _EXCLUDE_RE.fullmatch(p) or not p.startswith(f"{self.target}/") or "/../" in p
        ]
        if outside:
            raise ValueError(f"{where}: excluded paths must be plain paths under it: {outside}")

    def line(self) -> str:
        """The source as the scripts read it: `kind name target [client or excluded...]`."""
        return " ".join((self.kind.value, self.name, self.target, *self.client, *self.exclude))


@dataclass(frozen=True)
class AppControl:
    """How a restore stops, starts and health-checks the app (bash -c strings)."""

    stop: str = ""
    start: str = ""
    health: str = ""
    health_timeout_seconds: int = 300
    drill: str = ""
    """Run after a restore of another host's backup (`--from`), before `start`."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Reach:
    """How the host's backup job runs a command in a service's container: the
    words before the exec options, and the prefix that makes a service's name
    the engine's (Swarm names a stack's services `<stack>_<service>`)."""

    words: tuple[str, ...]
    service_prefix: str = ""

    def exec_in(self, service: str, *options: str) -> tuple[str, ...]:
        return (*self.words, *options, f"{self.service_prefix}{service}")

    def command(self, service: str, *options: str) -> str:
        """The same as one shell string (its words need no quoting: checked names)."""
        return " ".join(self.exec_in(service, *options))


def compose_reach(project: Project) -> Reach:
    """A single server: `docker compose exec` in the compose project."""
    return Reach(("docker", "compose", "-p", project.name, "exec", "-T"))


def swarm_reach(project: Project, bin_dir: str) -> Reach:
    """A Swarm node: the service's task on this node (assets/backup/mailstack-swarm)."""
    return Reach((f"{bin_dir}/{SWARM_HELPER}", "exec"), f"{project.name}_")


SWARM_HELPER = "mailstack-swarm"
"""The backup scripts' way into a Swarm stack, installed on the db node."""


def sources_from_project(
    project: Project,
    project_dir: str,
    reach: Reach | None = None,
    here: Sequence[Service] | None = None,
) -> tuple[BackupSource, ...]:
    """What to save, read off the services actually deployed on the host.

    `reach`: how a database's container is reached (default: `docker compose
    exec` in the project). `here`: the services that run on this host, with
    their volumes (default: all of them; a Swarm's db node holds only its own).

    Each PostgreSQL/MariaDB service is dumped through `docker compose exec`
    (a consistent dump, not a copy of live files): PostgreSQL as its
    `POSTGRES_USER` over the container's trusted local socket, MariaDB as root
    (the scratch databases of a verified restore need it) with the password
    the container's `MYSQL_PWD` holds. Every other writable mount
    is saved as files: named volumes from `<volume_root>/<volume>`, bind mounts
    from the project dir (`project_dir`, where compose.yaml lives). SQLite files
    a mount declares get their own VACUUM INTO source and are left out of the
    raw copy. Database data volumes are left to their dumps; read-only mounts
    are rendered files the next `pulumi up` writes again.
    """
    reach = reach or compose_reach(project)
    services = tuple(project.services if here is None else here)
    dumps: list[BackupSource] = []
    dumped_volumes: set[str] = set()
    for svc in services:
        if svc.role is not Role.DATABASE:
            continue
        if "POSTGRES_DB" in svc.environment:
            user = svc.environment["POSTGRES_USER"]
            dumps.append(
                BackupSource(
                    SourceKind.POSTGRES,
                    svc.name,
                    svc.environment["POSTGRES_DB"],
                    reach.exec_in(svc.name, "-e", f"PGUSER={user}"),
                )
            )
            dumped_volumes.update(svc.volumes)
        elif "MARIADB_DATABASE" in svc.environment:
            dumps.append(
                BackupSource(
                    SourceKind.MARIADB,
                    svc.name,
                    svc.environment["MARIADB_DATABASE"],
                    reach.exec_in(svc.name),
                )
            )
            dumped_volumes.update(svc.volumes)

    mounts = _writable_mounts(project, services, project_dir, dumped_volumes)

    sqlite_sources: list[BackupSource] = []
    file_sources: list[BackupSource] = []
    for host_dir, (name, sqlite) in sorted(mounts.items(), key=lambda m: m[1][0]):
        files = sorted(sqlite)
        sqlite_sources.extend(
            BackupSource(SourceKind.SQLITE, f"{name}-{_slug(f)}", f"{host_dir}/{f}") for f in files
        )
        excluded = tuple(f"{host_dir}/{f}{suffix}" for f in files for suffix in SQLITE_SIDECARS)
        file_sources.append(BackupSource(SourceKind.FILES, name, host_dir, exclude=excluded))
    return (*dumps, *sqlite_sources, *file_sources)


def _writable_mounts(
    project: Project, services: Sequence[Service], project_dir: str, dumped_volumes: set[str]
) -> dict[str, tuple[str, set[str]]]:
    """Host directory of each writable mount -> its source name and the SQLite
    files in it. Mounts are keyed by where they live on the host: app and cron
    share ./mailwizz."""
    mounts: dict[str, tuple[str, set[str]]] = {}
    for svc in services:
        if svc.role is Role.MONITORING:
            continue  # metrics history and silences: not worth restoring
        for mount in svc.mounts:
            if mount.read_only or mount.source in dumped_volumes:
                continue
            if mount.is_volume:
                if not project.volume_root:
                    continue
                host_dir = f"{project.volume_root}/{mount.source}"
            else:
                host_dir = posixpath.normpath(posixpath.join(project_dir, mount.source))
            _, sqlite = mounts.setdefault(host_dir, (_slug(mount.source), set()))
            sqlite.update(mount.sqlite)
    return mounts


def app_control(project: Project, project_dir: str, sources: Sequence[BackupSource]) -> AppControl:
    """Stop, start and health-check the compose project's services around a restore.

    Everything that runs is stopped, except the databases whose dumps are
    loaded (the load needs them up) and the metrics exporter (it writes
    nothing, and the host is worth watching while a restore fills its disk).
    The start is `up`, not `start`, and names the one-shot jobs too: the
    restored data is the snapshot's, and the jobs (schema upgrade, listmonk's
    SMTP relay and sender in its database) must run again before the app does,
    so what the app reads is this host's config, not the backed-up host's.
    `up` orders it all by `depends_on`, a job's dependants waiting for it to
    succeed. Healthy means every service with a healthcheck, databases
    included, has all its containers healthy. A drill restore (`--from`) first
    runs each database's `drill_sql`.
    """
    words = ("docker", "compose", "-p", project.name, "-f", f"{project_dir}/compose.yaml")
    compose = " ".join(words)
    loaded = _loaded(sources)
    running = [s for s in project.services if s.role is not Role.JOB]
    # Monitoring keeps watching through the restore (it reads no app data).
    watching = (Role.METRICS, Role.MONITORING)
    stopped = [s.name for s in running if s.name not in loaded and s.role not in watching]
    jobs = [s.name for s in project.in_dependency_order() if s.role is Role.JOB]
    checked = " ".join(s.name for s in running if s.healthcheck is not None)
    return AppControl(
        stop=f"{compose} stop {' '.join(stopped)}",
        start=f"{compose} up -d {' '.join([*jobs, *stopped])}",
        health=(
            f"for s in {checked}; do "
            f'ids="$({compose} ps -q "$s")" && [ -n "$ids" ] || exit 1; '
            "for id in $ids; do "
            '[ "$(docker inspect -f \'{{.State.Health.Status}}\' "$id")" = healthy ] || exit 1; '
            "done; done"
        ),
        drill=" && ".join(_drill_sql(project.services, Reach((*words, "exec", "-T")))),
    )


def swarm_app_control(
    project: Project,
    sources: Sequence[BackupSource],
    replicas: Mapping[str, int],
    reach: Reach,
) -> AppControl:
    """`app_control` for a Swarm stack, run on its db node (a manager: scaling
    services is a manager's API). The same services stop as on one server,
    across every node, by scaling them to 0, and come back at `replicas`
    (their counts in the stack file) in compose's dependency order, each job
    run again to its end once what it needs runs (healthy), before what needs
    it. The proxy, a global service holding nothing the restore writes, keeps
    answering (a 502 while the app is away), and monitoring keeps watching, as
    on one server; healthy is every service the restore stopped or loaded
    running all its replicas."""
    helper = reach.words[0]
    # Monitoring keeps watching; the proxy keeps answering (a global service).
    touched = [
        s
        for s in project.in_dependency_order()
        if s.role not in (Role.METRICS, Role.MONITORING, Role.PROXY)
    ]
    loaded = _loaded(sources)
    restarted = [s for s in touched if s.role is Role.JOB or s.name not in loaded]

    def named(svc: Service) -> str:
        return f"{reach.service_prefix}{svc.name}"

    def target(svc: Service) -> str:
        return f"{named(svc)}={replicas[svc.name]}"

    # One walk in dependency order: the helper waits for the services named
    # before each job, so a job that needs a service which itself needs an
    # earlier job still finds it running.
    start = [f"--job {named(s)}" if s.role is Role.JOB else target(s) for s in restarted]
    jobs_first = sorted(restarted, key=lambda s: s.role is not Role.JOB)
    checked = [target(s) for s in touched if s.role is not Role.JOB and s.healthcheck]
    return AppControl(
        stop=f"{helper} stop {' '.join(named(s) for s in jobs_first)}",
        start=f"{helper} start {' '.join(start)}",
        health=f"{helper} healthy {' '.join(checked)}",
        drill=" && ".join(_drill_sql(project.services, reach)),
    )


def _loaded(sources: Sequence[BackupSource]) -> set[str]:
    """The databases a restore loads a dump into: they stay up through it."""
    return {s.name for s in sources if s.kind in (SourceKind.POSTGRES, SourceKind.MARIADB)}


def _drill_sql(services: Sequence[Service], reach: Reach) -> list[str]:
    """Each database's `drill_sql`, run with its own client inside its container."""
    commands = []
    for svc in services:
        for sql in svc.drill_sql:
            if "POSTGRES_DB" in svc.environment:
                client = reach.command(svc.name, "-e", f"PGUSER={svc.environment['POSTGRES_USER']}")
                tool = f"psql -X -q -v ON_ERROR_STOP=1 --dbname={svc.environment['POSTGRES_DB']} -c"
            elif "MARIADB_DATABASE" in svc.environment:
                client = reach.command(svc.name)
                tool = f"mariadb {svc.environment['MARIADB_DATABASE']} -e"
            else:
                raise ValueError(f"service {svc.name!r}: drill SQL needs a postgres or mariadb")
            commands.append(f"{client} {tool} {shlex.quote(sql)}")
    return commands
