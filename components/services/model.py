"""The typed service model: what one container of the platform is allowed to be.

A `Service` carries everything the compose file needs, and its constructor
refuses what the platform forbids (an unpinned image, a published port on
anything but the proxy, a long-running service without healthcheck or memory
limit), so every preset is safe by construction rather than by review.
Secret values never live here: a service names its secret variables and where
their values come from; the deploy step resolves them into env files.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Network(enum.StrEnum):
    EDGE = "edge"
    """Reaches the internet; the proxy publishes its ports here."""
    INTERNAL = "internal"
    """`internal: true`: no route out, nothing published."""


class Role(enum.StrEnum):
    """What a service is for; policy tests and the deploy step key off it."""

    PROXY = "proxy"
    APP = "app"
    DATABASE = "database"
    CACHE = "cache"
    STORAGE = "storage"
    MAIL_SINK = "mail-sink"
    WORKER = "worker"
    METRICS = "metrics"
    """Exports host metrics to the proxy: internal network, read-only mounts only."""
    MONITORING = "monitoring"
    """Prometheus, Alertmanager, probes, Grafana: admin-only behind the proxy."""
    JOB = "job"
    """Runs once to completion (e.g. creating buckets); no healthcheck, no restart."""


class Update(enum.StrEnum):
    """How a changed service is replaced."""

    RECREATE = "recreate"
    """Stop the old container, then start the new one (stateful services)."""
    START_FIRST = "start-first"
    """Start the new container, wait until healthy, then stop the old one
    (stateless web services: the proxy keeps serving through the switch)."""


class Condition(enum.StrEnum):
    HEALTHY = "service_healthy"
    COMPLETED = "service_completed_successfully"


@dataclass(frozen=True)
class Image:
    """A container image pinned by tag (and by digest when it is known)."""

    name: str
    tag: str
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.tag or self.tag == "latest":
            raise ValueError(f"image {self.name!r} must pin a tag, not {self.tag or 'none'!r}")
        if self.digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", self.digest):
            raise ValueError(f"image {self.name!r}: digest must be 'sha256:<64 hex>'")

    @classmethod
    def parse(cls, ref: str) -> Image:
        """`name:tag` or `name:tag@sha256:...` (the tag is required)."""
        ref, _, digest = ref.partition("@")
        name, sep, tag = ref.rpartition(":")
        if not sep or "/" in tag:
            raise ValueError(f"image {ref!r} must pin a tag, e.g. 'ghcr.io/you/app:1.2.3'")
        return cls(name, tag, digest)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Secret:
    """Where a secret value comes from; only its name is ever rendered."""

    source: str
    """`random` (a generated password) or `config` (a secret Pulumi config key)."""
    key: str
    """The password's name (shared by every service that uses it) or the config key."""
    url: str = ""
    """A connection URL with `{}` where the value goes (URL-quoted), e.g.
    `redis://:{}@redis:6379/0`: the whole URL is then the secret. Empty: the value."""

    def __post_init__(self) -> None:
        if self.source not in ("random", "config"):
            raise ValueError(f"secret source must be 'random' or 'config', not {self.source!r}")
        if self.url and self.url.count("{}") != 1:
            raise ValueError(f"secret URL {self.url!r} must hold exactly one '{{}}'")

    def render(self, value: str) -> str:
        """The env file's value: the secret itself, or the URL carrying it."""
        if not self.url:
            return value
        # Generated passwords are URL-safe already; `<`, `:` and `>` stay as they
        # are so synth's placeholders (`<secret:random:NAME>`) remain findable
        # for `make local` (`:` is allowed in a URL's password part).
        return self.url.replace("{}", urllib.parse.quote(value, safe="<:>"))


def random_secret(key: str) -> Secret:
    return Secret("random", key)


def config_secret(key: str) -> Secret:
    return Secret("config", key)


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    """Docker's exec form: ("CMD", ...) or ("CMD-SHELL", "...")."""
    # Docker runs the first check one interval after start (the engine's
    # start_interval needs API 1.44), so the interval sets how fast a chain
    # of `service_healthy` dependencies comes up.
    interval: str = "5s"
    timeout: str = "5s"
    retries: int = 6
    start_period: str = "30s"


@dataclass(frozen=True)
class Port:
    """A port the proxy publishes on the host."""

    host: int
    container: int
    host_ip: str = ""
    """Empty binds every interface (servers); `127.0.0.1` keeps it on the machine."""

    def render(self) -> str:
        prefix = f"{self.host_ip}:" if self.host_ip else ""
        return f"{prefix}{self.host}:{self.container}"


@dataclass(frozen=True)
class Mount:
    """A named volume (`source` without '/') or a read-only file from the project dir."""

    source: str
    target: str
    read_only: bool = False
    sqlite: tuple[str, ...] = ()
    """SQLite database files the service writes in this mount, relative to it
    (e.g. `app.db`): backups copy them with VACUUM INTO, never as raw files."""
    propagation: str = ""
    """Bind propagation, e.g. `rslave`; empty keeps Docker's `rprivate`."""

    def __post_init__(self) -> None:
        for path in self.sqlite:
            if self.read_only or not re.fullmatch(r"(\w[\w.-]*/)*\w[\w.-]*", path, re.ASCII):
                raise ValueError(
                    f"mount {self.source!r}: sqlite file {path!r} must be a plain relative "
                    "path in a writable mount"
                )

    @property
    def is_volume(self) -> bool:
        return "/" not in self.source and not self.source.startswith(".")

    def render(self) -> str:
        """Compose's short syntax: `source:target[:ro][,propagation]`."""
        options = ",".join(o for o in ("ro" if self.read_only else "", self.propagation) if o)
        return f"{self.source}:{self.target}" + (f":{options}" if options else "")


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpus: float = 1.0
    pids: int = 512


@dataclass(frozen=True)
class Service:
    """One container of the platform, safe by construction."""

    name: str
    role: Role
    image: Image
    limits: Limits
    healthcheck: Healthcheck | None = None
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, Secret] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    tmpfs: tuple[str, ...] = ()
    networks: tuple[Network, ...] = (Network.INTERNAL,)
    depends_on: Mapping[str, Condition] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    cap_add: tuple[str, ...] = ()
    read_only: bool = True
    user: str = ""
    update: Update = Update.RECREATE
    labels: Mapping[str, str] = field(default_factory=dict)
    drill_sql: tuple[str, ...] = ()
    """Databases: SQL run in the service's database after a restore of another
    host's backup (the restore drill, `mailstack-restore --from`), before the
    app starts: what stops the copy from acting as the original, e.g. from
    sending the original's campaigns to its real subscribers."""

    def __post_init__(self) -> None:
        where = f"service {self.name!r}"
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"{where}: name must be lowercase letters, digits and '-'")
        self._check_role(where)
        self._check_networks(where)
        self._check_environment(where)
        if self.limits.memory_mb < 16:
            raise ValueError(f"{where}: memory limit {self.limits.memory_mb} MiB is too small")

    def _check_role(self, where: str) -> None:
        """What only some roles may do: run drill SQL, publish ports, start first."""
        if self.drill_sql and self.role is not Role.DATABASE:
            raise ValueError(f"{where}: only a database runs SQL after a drill restore")
        if self.ports and self.role is not Role.PROXY:
            raise ValueError(f"{where}: only the proxy publishes ports (Docker bypasses UFW)")
        if self.role is not Role.JOB and self.healthcheck is None:
            raise ValueError(f"{where}: a long-running service needs a healthcheck")
        if self.update is Update.START_FIRST and (self.ports or self.role is not Role.APP):
            raise ValueError(f"{where}: only stateless app services can start before stopping")

    def _check_networks(self, where: str) -> None:
        if not self.networks:
            raise ValueError(f"{where}: needs at least one network")
        if self.role in (Role.DATABASE, Role.CACHE, Role.STORAGE) and Network.EDGE in self.networks:
            raise ValueError(f"{where}: data services stay on the internal network only")
        if self.role is Role.METRICS and (
            self.networks != (Network.INTERNAL,) or not all(m.read_only for m in self.mounts)
        ):
            # It reads the whole host: nothing it sees may leave but through
            # the proxy's admin-only route, and it may change nothing.
            raise ValueError(f"{where}: an exporter stays internal with read-only mounts only")

    def _check_environment(self, where: str) -> None:
        for name in (*self.environment, *self.secret_env):
            if not _ENV_RE.fullmatch(name):
                raise ValueError(f"{where}: {name!r} is not an environment variable name")
        if clash := set(self.environment) & set(self.secret_env):
            raise ValueError(f"{where}: {sorted(clash)} set both plainly and as secrets")

    @property
    def restart(self) -> str:
        return "no" if self.role is Role.JOB else "unless-stopped"

    @property
    def volumes(self) -> tuple[str, ...]:
        return tuple(m.source for m in self.mounts if m.is_volume)


@dataclass(frozen=True)
class Project:
    """Everything that runs on one host: one compose file."""

    name: str
    """Compose project name, e.g. `mailstack-prod`."""
    services: tuple[Service, ...]
    volume_root: str = ""
    """Servers: named volumes are bind-mounted from `<volume_root>/<volume>` on the
    data volume. Empty (local): Docker keeps them in its own volume store."""

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"project {self.name!r}: duplicate service names {names}")
        known = set(names)
        for service in self.services:
            for dep in service.depends_on:
                if dep not in known:
                    raise ValueError(f"service {service.name!r} depends on unknown {dep!r}")
        proxies = [s for s in self.services if s.role is Role.PROXY]
        if len(proxies) != 1:
            raise ValueError(f"project {self.name!r}: needs exactly one proxy, has {len(proxies)}")

    def service(self, name: str) -> Service:
        (match,) = [s for s in self.services if s.name == name]
        return match

    @property
    def volumes(self) -> tuple[str, ...]:
        return tuple(sorted({v for s in self.services for v in s.volumes}))

    def in_dependency_order(self) -> tuple[Service, ...]:
        """Services with every dependency before its dependants (stable by name)."""
        done: list[Service] = []
        pending = sorted(self.services, key=lambda s: s.name)
        while pending:
            ready = [s for s in pending if all(d in {x.name for x in done} for d in s.depends_on)]
            if not ready:
                raise ValueError(f"project {self.name!r}: dependency cycle among {pending}")
            done.extend(ready)
            pending = [s for s in pending if s not in ready]
        return tuple(done)
