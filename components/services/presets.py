"""App presets: each a small, readable definition on top of the kinds.

A preset returns the app's services, the routes the proxy forwards, the paths
only admins may reach, and any extra files the services mount. The proxy and
(on the local stack) the mail sink are added by `build_project`, not here.

Generic apps (transactional-api, web-api, custom) receive the mail relay as
`SMTP_HOST`, `SMTP_PORT`, `SMTP_USERNAME`, `SMTP_PASSWORD` and `MAIL_FROM`.
Their healthcheck is `wget` on the health path unless `appHealthCommand`
(`appWebHealthCommand`) replaces it: the image must ship `wget` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.app_env import TRANSACTIONAL_API_DATA, TRANSACTIONAL_API_SQLITE
from common.enums import AppPreset
from components.services import kinds
from components.services.app_config import APP_ENV_TARGETS, with_app_env, with_data
from components.services.caddyfile import Route
from components.services.model import (
    Condition,
    Healthcheck,
    Image,
    Limits,
    Mount,
    Network,
    Role,
    Secret,
    Service,
    Update,
    random_secret,
)

LISTMONK = Image("listmonk/listmonk", "v5.0.3")
NGINX = Image("nginx", "1.27.4")
PHP_FPM = Image("php", "8.3.20-fpm-bookworm")
ASSETS = Path(__file__).resolve().parents[2] / "assets" / "services"


@dataclass(frozen=True)
class Relay:
    """Where the app hands over outgoing mail."""

    host: str
    port: int
    username: str = ""
    password: Secret | None = None
    starttls: bool = True
    """Upgrade to TLS with STARTTLS (every real relay on 587); off for the local sink."""


@dataclass(frozen=True)
class AppParams:
    """What the presets need from the stack's config."""

    preset: AppPreset
    image: str
    """Overrides the preset's app image; required for the generic presets."""
    port: int
    health_path: str
    admin_paths: tuple[str, ...]
    app_url: str
    from_address: str
    relay: Relay
    redis: bool
    storage: bool
    """Run S3 object storage (SeaweedFS) with `buckets`."""
    buckets: tuple[str, ...]
    egress: bool
    """The app reaches the internet (its mail relay); off on the local stack."""
    web_image: str = ""
    web_port: int = 3000
    health_command: tuple[str, ...] = ()
    """Replaces the app's healthcheck (exec form, without "CMD"); empty keeps the preset's."""
    web_health_command: tuple[str, ...] = ()
    """The same for `web-api`'s web front end."""
    ses_feedback: bool = False
    """SES posts bounces and complaints to the app (listmonk: its SES webhook)."""
    storage_public_url: str = ""
    """The store's public S3 endpoint through the proxy (presigned URLs are
    signed for it); empty: reachable from the app only."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The app's own plain variables (`appEnv`), passed on literally."""
    secret_env: Mapping[str, Secret] = field(default_factory=dict)
    """The app's own secret variables (`appSecretEnv`), by name."""
    data_paths: tuple[str, ...] = ()
    """Directories in the app container kept on volumes; empty: the preset's."""
    sqlite_files: tuple[str, ...] = ()
    """SQLite files in those directories (container paths); empty: the preset's."""


@dataclass(frozen=True)
class App:
    services: tuple[Service, ...]
    routes: tuple[Route, ...]
    """What the proxy forwards; the last route takes every other request."""
    admin_paths: tuple[str, ...] = ()
    public_paths: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    """Extra files written next to compose.yaml (path -> text)."""
    admin_password: Secret | None = None
    """The app's first admin password, when the preset generates one (a stack output)."""


def _app_networks(p: AppParams) -> tuple[Network, ...]:
    return (Network.INTERNAL, Network.EDGE) if p.egress else (Network.INTERNAL,)


def _smtp_env(p: AppParams) -> tuple[dict[str, str], dict[str, Secret]]:
    env = {
        "SMTP_HOST": p.relay.host,
        "SMTP_PORT": str(p.relay.port),
        "MAIL_FROM": p.from_address,
        "APP_URL": p.app_url,
    }
    if p.relay.username:
        env["SMTP_USERNAME"] = p.relay.username
    secrets = {"SMTP_PASSWORD": p.relay.password} if p.relay.password else {}
    return env, secrets


def _extras(p: AppParams, always_redis: bool = False, always_storage: bool = False) -> App:
    """Redis and object storage (with its bucket job) when the config or the preset asks."""
    services: list[Service] = []
    if p.redis or always_redis:
        services.append(kinds.redis())
    if p.storage or always_storage:
        buckets = p.buckets or ("uploads",)
        services += [kinds.seaweedfs(buckets), kinds.storage_buckets(buckets)]
    return App(tuple(services), ())


def _storage_env(p: AppParams) -> dict[str, str]:
    """Where the app reaches its buckets: path-style, with its own key id.

    `S3_PUBLIC_ENDPOINT` is what presigned URLs must be signed for (SigV4
    signs the host), so that browsers outside reach them through the proxy.
    """
    buckets = p.buckets or ("uploads",)
    env = {
        "S3_ENDPOINT": f"http://{kinds.STORAGE_NAME}:{kinds.STORAGE_S3_PORT}",
        "S3_REGION": "us-east-1",
        "S3_FORCE_PATH_STYLE": "true",
        "S3_ACCESS_KEY_ID": kinds.STORAGE_ACCESS_KEY_ID,
        "S3_BUCKET": buckets[0],
        "S3_BUCKETS": ",".join(buckets),
    }
    if p.storage_public_url:
        env["S3_PUBLIC_ENDPOINT"] = p.storage_public_url
    return env


def _extra_env(
    extras: App, p: AppParams
) -> tuple[dict[str, str], dict[str, Secret], dict[str, Condition]]:
    env: dict[str, str] = {}
    secrets: dict[str, Secret] = {}
    deps: dict[str, Condition] = {}
    names = {s.name for s in extras.services}
    if "redis" in names:
        # The URL carries the password (Redis runs with requirepass), so the
        # whole URL is a secret; REDIS_PASSWORD stays for clients that take it apart.
        secrets["REDIS_URL"] = Secret("random", "redis", url=REDIS_URL)
        secrets["REDIS_PASSWORD"] = random_secret("redis")
        deps["redis"] = Condition.HEALTHY
    if kinds.STORAGE_NAME in names:
        env |= _storage_env(p)
        secrets["S3_SECRET_ACCESS_KEY"] = kinds.STORAGE_SECRET
        deps[kinds.STORAGE_BUCKETS_NAME] = Condition.COMPLETED
    return env, secrets, deps


REDIS_URL = "redis://:{}@redis:6379/0"
DATABASE_URL = "postgresql://app:{}@db:5432/app"


LISTMONK_SETTINGS = "listmonk-settings.sql"
LISTMONK_DRILL_SQL = (
    "UPDATE campaigns SET status = 'paused' WHERE status = 'running'; "
    "UPDATE campaigns SET status = 'draft' WHERE status = 'scheduled'"
)
"""After a drill restore of another host's data: a campaign that was sending
there would go on sending from here, and a scheduled one would start, both to
the original's real subscribers. Paused and unscheduled, they wait for a person."""


def listmonk(p: AppParams) -> App:
    """listmonk + PostgreSQL, with its mail relay written into its settings.

    listmonk keeps SMTP servers in its database and reads them at start, so
    two one-shot jobs run before each app deploy: `app-install` creates or
    upgrades the schema (with the app's own image), then `app-settings`
    writes the relay and sender from the stack's config (psql, from the
    environment). SMTP changes made in listmonk's UI last until the next deploy.
    """
    db = replace(
        kinds.postgres("db", database="listmonk", user="listmonk", password=random_secret("db")),
        drill_sql=(LISTMONK_DRILL_SQL,),
    )
    admin_password = random_secret("app-admin")
    image = Image.parse(p.image) if p.image else LISTMONK
    db_env = {
        "LISTMONK_db__host": "db",
        "LISTMONK_db__port": "5432",
        "LISTMONK_db__user": "listmonk",
        "LISTMONK_db__database": "listmonk",
        "LISTMONK_db__ssl_mode": "disable",
        "TZ": "Etc/UTC",
    }
    install = Service(
        name="app-install",
        role=Role.JOB,
        image=image,
        limits=Limits(memory_mb=256, cpus=0.5),
        command=(
            "sh",
            "-c",
            "./listmonk --install --idempotent --yes --config '' && "
            "./listmonk --upgrade --yes --config ''",
        ),
        environment={**db_env, "LISTMONK_ADMIN_USER": "admin"},
        secret_env={
            "LISTMONK_db__password": random_secret("db"),
            "LISTMONK_ADMIN_PASSWORD": admin_password,
        },
        tmpfs=("/tmp",),
        depends_on={"db": Condition.HEALTHY},
    )
    relay = p.relay
    settings = Service(
        name="app-settings",
        role=Role.JOB,
        image=kinds.POSTGRES,
        limits=Limits(memory_mb=64, cpus=0.25),
        command=("psql", "-q", "-f", f"/setup/{LISTMONK_SETTINGS}"),
        user="postgres",
        environment={
            "PGHOST": "db",
            "PGUSER": "listmonk",
            "PGDATABASE": "listmonk",
            "SMTP_HOST": relay.host,
            "SMTP_PORT": str(relay.port),
            "SMTP_USERNAME": relay.username,
            "SMTP_AUTH": "plain" if relay.username else "none",
            "SMTP_TLS": "STARTTLS" if relay.starttls else "none",
            "MAIL_FROM": p.from_address,
            "SES_FEEDBACK": "true" if p.ses_feedback else "false",
        },
        secret_env={
            "PGPASSWORD": random_secret("db"),
            **({"SMTP_PASSWORD": relay.password} if relay.password else {}),
        },
        mounts=(Mount(f"./{LISTMONK_SETTINGS}", f"/setup/{LISTMONK_SETTINGS}", read_only=True),),
        tmpfs=("/tmp",),
        depends_on={"app-install": Condition.COMPLETED},
    )
    extras = _extras(p)
    app = Service(
        name="app",
        role=Role.APP,
        image=image,
        limits=Limits(memory_mb=512),
        command=("./listmonk", "--config", ""),
        environment={
            **db_env,
            "LISTMONK_app__address": "0.0.0.0:9000",
            "LISTMONK_app__root_url": p.app_url,
        },
        secret_env={"LISTMONK_db__password": random_secret("db")},
        # Runs as the image's root user (PUID 0) with every capability dropped:
        # switching to another user would make its entrypoint edit /etc/passwd.
        mounts=(Mount("app-uploads", "/listmonk/uploads"),),
        tmpfs=("/tmp",),
        networks=_app_networks(p),
        depends_on={"db": Condition.HEALTHY, "app-settings": Condition.COMPLETED},
        # Never two at once: one database allows one running listmonk, or both
        # process a running campaign and subscribers get it twice
        # (knadh/listmonk#2052). The proxy holds requests while it restarts.
        update=Update.RECREATE,
        healthcheck=kinds.http_check(9000, "/health"),
    )
    return App(
        (db, install, settings, app, *extras.services),
        (Route("app", 9000),),
        admin_paths=("/admin", "/admin/*", "/api/*"),
        public_paths=("/api/public/*",),
        files={LISTMONK_SETTINGS: (ASSETS / LISTMONK_SETTINGS).read_text()},
        admin_password=admin_password,
    )


MAILWIZZ_ROOT = "/var/www/html"
MAILWIZZ_SOURCE_DIR = "mailwizz"
"""Next to compose.yaml: MailWizz's source (delivered by `mailwizzArchiveUrl` or by hand)."""
MAILWIZZ_CRON = "mailwizz-cron.sh"
"""The cron worker's loop (assets/services): the minute jobs every round,
hourly and daily by elapsed time since their last start."""


def mailwizz(p: AppParams) -> App:
    """MailWizz: nginx + PHP-FPM + MariaDB + Redis + cron.

    The licensed source is yours: put it in `mailwizz/` next to compose.yaml.
    The PHP image must carry MailWizz's extensions (pdo_mysql, gd, imap, ...):
    build one FROM php-fpm and set `appImage`.
    """
    php = Image.parse(p.image) if p.image else PHP_FPM
    db = kinds.mariadb("db", database="mailwizz", user="mailwizz", password=random_secret("db"))
    extras = _extras(p, always_redis=True)
    source = Mount(f"./{MAILWIZZ_SOURCE_DIR}", MAILWIZZ_ROOT)
    env = {"MAILWIZZ_DB_HOST": "db", "MAILWIZZ_DB_NAME": "mailwizz", "MAILWIZZ_DB_USER": "mailwizz"}
    secrets = {"MAILWIZZ_DB_PASSWORD": random_secret("db")}
    deps = {"db": Condition.HEALTHY, "redis": Condition.HEALTHY}
    app = Service(
        name="app",
        role=Role.APP,
        image=php,
        limits=Limits(memory_mb=512),
        environment=env,
        secret_env=secrets,
        mounts=(source,),
        tmpfs=("/tmp",),
        networks=_app_networks(p),
        depends_on=deps,
        user="www-data",
        # PHP-FPM only answers requests (sending is the cron worker's job, and
        # the worker is recreated), so two may briefly share the database.
        update=Update.START_FIRST,
        healthcheck=Healthcheck(
            ("CMD", "php", "-r", "exit(@fsockopen('127.0.0.1', 9000) ? 0 : 1);")
        ),
    )
    web = Service(
        name="web",
        role=Role.APP,
        image=NGINX,
        limits=Limits(memory_mb=128, cpus=0.5),
        mounts=(
            Mount("./nginx.conf", "/etc/nginx/conf.d/default.conf", read_only=True),
            Mount("./mailwizz", MAILWIZZ_ROOT, read_only=True),
        ),
        tmpfs=("/var/cache/nginx", "/var/run", "/tmp"),
        cap_add=("CHOWN", "SETGID", "SETUID"),
        depends_on={"app": Condition.HEALTHY},
        # nginx holds no state: it serves files and forwards to PHP-FPM.
        update=Update.START_FIRST,
        healthcheck=Healthcheck(
            ("CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/nginx-health")
        ),
    )
    cron = kinds.worker(
        "cron",
        php,
        ("sh", f"/usr/local/bin/{MAILWIZZ_CRON}"),
        environment=env,
        secret_env=secrets,
        mounts=(
            source,
            Mount(f"./{MAILWIZZ_CRON}", f"/usr/local/bin/{MAILWIZZ_CRON}", read_only=True),
        ),
        depends_on=deps,
        networks=_app_networks(p),
        user="www-data",
    )
    return App(
        (db, app, web, cron, *extras.services),
        (Route("web", 8080),),
        admin_paths=("/backend", "/backend/*"),
        files={
            "nginx.conf": (ASSETS / "mailwizz-nginx.conf").read_text(),
            MAILWIZZ_CRON: (ASSETS / MAILWIZZ_CRON).read_text(),
        },
    )


def _generic_app(
    p: AppParams, name: str, image: str, port: int, health_path: str, extras: App
) -> Service:
    env, secrets = _smtp_env(p)
    extra_env, extra_secrets, deps = _extra_env(extras, p)
    return Service(
        name=name,
        role=Role.APP,
        image=Image.parse(image),
        limits=Limits(memory_mb=512),
        environment={**env, **extra_env, "PORT": str(port), "DATA_DIR": "/data"},
        secret_env={**secrets, **extra_secrets},
        tmpfs=("/tmp",),
        networks=_app_networks(p),
        depends_on=deps,
        # The generic presets take a stateless image (custom's contract, web-api's
        # API over PostgreSQL): two may serve side by side during the switch.
        # transactional-api, with its one SQLite writer, replaces this.
        update=Update.START_FIRST,
        healthcheck=kinds.http_check(port, health_path),
    )


def transactional_api(p: AppParams) -> App:
    """One API container with its SQLite databases (a self-hosted Resend alternative):
    `/data/app.db` unless `appDataPaths`/`appSqliteFiles` say otherwise.

    Stateful (one SQLite writer), so it is recreated rather than started first.
    """
    extras = _extras(p)
    api = _generic_app(p, "app", p.image, p.port, p.health_path, extras)
    paths = p.data_paths or (TRANSACTIONAL_API_DATA,)
    files = p.sqlite_files or (() if p.data_paths else (TRANSACTIONAL_API_SQLITE,))
    api = replace(with_data(api, paths, files), update=Update.RECREATE)
    return App((api, *extras.services), (Route("app", p.port),), admin_paths=p.admin_paths)


def web_api(p: AppParams) -> App:
    """A web front end and an API over PostgreSQL, Redis and S3 storage; mail through SES."""
    db = kinds.postgres("db", database="app", user="app", password=random_secret("db"))
    extras = _extras(p, always_redis=True, always_storage=True)
    api = _generic_app(p, "api", p.image, p.port, p.health_path, extras)
    api = replace(
        api,
        environment={**api.environment, "DATABASE_HOST": "db", "DATABASE_NAME": "app"},
        secret_env={
            **api.secret_env,
            "DATABASE_PASSWORD": random_secret("db"),
            "DATABASE_URL": Secret("random", "db", url=DATABASE_URL),
        },
        depends_on={**api.depends_on, "db": Condition.HEALTHY},
    )
    api = with_data(api, p.data_paths, p.sqlite_files)
    web = Service(
        name="web",
        role=Role.APP,
        image=Image.parse(p.web_image),
        limits=Limits(memory_mb=256, cpus=0.5),
        environment={"PORT": str(p.web_port), "API_URL": f"{p.app_url}/api"},
        tmpfs=("/tmp",),
        depends_on={"api": Condition.HEALTHY},
        # A front end that only renders and calls the API: nothing to share.
        update=Update.START_FIRST,
        healthcheck=kinds.http_check(p.web_port, "/"),
    )
    return App(
        (db, api, web, *extras.services),
        (Route("api", p.port, "/api/*"), Route("web", p.web_port)),
        admin_paths=p.admin_paths,
    )


def custom(p: AppParams) -> App:
    """Any image, port and health path from config (plus Redis/storage if on)."""
    extras = _extras(p)
    app = _generic_app(p, "app", p.image, p.port, p.health_path, extras)
    app = with_data(app, p.data_paths, p.sqlite_files)
    return App((app, *extras.services), (Route("app", p.port),), admin_paths=p.admin_paths)


PRESETS = {
    AppPreset.LISTMONK: listmonk,
    AppPreset.MAILWIZZ: mailwizz,
    AppPreset.TRANSACTIONAL_API: transactional_api,
    AppPreset.WEB_API: web_api,
    AppPreset.CUSTOM: custom,
}


def _command_check(command: tuple[str, ...]) -> Healthcheck:
    """A configured healthcheck (compose.py keeps its `$` literal)."""
    return Healthcheck(("CMD", *command))


def build_app(p: AppParams) -> App:
    app = PRESETS[p.preset](p)
    checks = {"api" if p.preset is AppPreset.WEB_API else "app": p.health_command}
    if p.preset is AppPreset.WEB_API:
        checks["web"] = p.web_health_command
    services = tuple(
        replace(s, healthcheck=_command_check(checks[s.name])) if checks.get(s.name) else s
        for s in app.services
    )
    targets = APP_ENV_TARGETS.get(p.preset, ("app",))
    services = tuple(
        with_app_env(s, p.env, p.secret_env) if s.name in targets else s for s in services
    )
    return App(
        services,
        app.routes,
        admin_paths=(*app.admin_paths, *(a for a in p.admin_paths if a not in app.admin_paths)),
        public_paths=app.public_paths,
        files=app.files,
        admin_password=app.admin_password,
    )
