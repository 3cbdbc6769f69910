"""Built-in service kinds with their secure defaults and real healthchecks.

Images are the official ones, pinned by tag. Each kind drops every capability
and adds back only what its image's entrypoint needs (the database images
start as root to own their data directory, then drop to their own user).
Healthcheck commands use only what the official image ships (`pg_isready`,
busybox `wget`, `redis-cli`, `healthcheck.sh`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from components.services.model import (
    Condition,
    Healthcheck,
    Image,
    Limits,
    Mount,
    Network,
    Port,
    Role,
    Secret,
    Service,
    random_secret,
)

# 2.11: since 2.11.2 a retry after a dial error keeps the request's body
# (caddyserver/caddy#7546, #7547, #7715), so a POST that hits a stopped or
# starting container is retried on another instead of failing with 502.
CADDY = Image("caddy", "2.11.7")
POSTGRES = Image("postgres", "17.5")
MARIADB = Image("mariadb", "11.4.5")
REDIS = Image("redis", "7.4.2")
SEAWEEDFS = Image("chrislusf/seaweedfs", "4.48")
"""Object storage (S3), after MinIO stopped publishing images (docs/storage.md)."""
MAILPIT = Image("axllent/mailpit", "v1.20.4")
NODE_EXPORTER = Image("prom/node-exporter", "v1.8.2")

# The database entrypoints chown their data directory and switch user.
DB_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID")

PROXY_NAME = "proxy"
MAIL_SINK_NAME = "mailpit"
MAIL_SINK_SMTP_PORT = 1025
MAIL_SINK_UI_PORT = 8025
NODE_EXPORTER_NAME = "node-exporter"
NODE_EXPORTER_PORT = 9100
TEXTFILE_DIR = "/var/lib/node_exporter/textfile_collector"
"""Inside the exporter: the host's textfile directory (read-only)."""


def http_check(port: int, path: str) -> Healthcheck:
    """An HTTP probe with busybox/GNU `wget` inside the container."""
    return Healthcheck(("CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"))


def caddy(
    ports: Sequence[Port], depends_on: Mapping[str, Condition], mounts: Sequence[Mount] = ()
) -> Service:
    """The reverse proxy: the only service that publishes ports.

    `mounts`: what it serves itself besides its config (read-only files).
    """
    return Service(
        name=PROXY_NAME,
        role=Role.PROXY,
        image=CADDY,
        limits=Limits(memory_mb=256),
        command=("caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"),
        environment={"XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/config"},
        mounts=(
            Mount("caddy-data", "/data"),
            Mount("caddy-config", "/config"),
            Mount("./Caddyfile", "/etc/caddy/Caddyfile", read_only=True),
            *mounts,
        ),
        tmpfs=("/tmp",),
        networks=(Network.EDGE, Network.INTERNAL),
        ports=tuple(ports),
        cap_add=("NET_BIND_SERVICE",),
        # The admin API listens on localhost inside the container only.
        healthcheck=http_check(2019, "/config/"),
        depends_on=depends_on,
    )


def postgres(name: str, database: str, user: str, password: Secret) -> Service:
    return Service(
        name=name,
        role=Role.DATABASE,
        image=POSTGRES,
        limits=Limits(memory_mb=512),
        environment={"POSTGRES_DB": database, "POSTGRES_USER": user},
        secret_env={"POSTGRES_PASSWORD": password},
        mounts=(Mount(f"{name}-data", "/var/lib/postgresql/data"),),
        tmpfs=("/var/run/postgresql", "/tmp"),
        cap_add=DB_CAPS,
        healthcheck=Healthcheck(("CMD", "pg_isready", "-U", user, "-d", database)),
    )


def mariadb(name: str, database: str, user: str, password: Secret) -> Service:
    return Service(
        name=name,
        role=Role.DATABASE,
        image=MARIADB,
        limits=Limits(memory_mb=512),
        environment={"MARIADB_DATABASE": database, "MARIADB_USER": user},
        secret_env={
            "MARIADB_PASSWORD": password,
            "MARIADB_ROOT_PASSWORD": random_secret(f"{name}-root"),
            # For clients run in the container (`docker compose exec db
            # mariadb-dump`: the backups): they connect as root, the container's
            # user, with no password on any command line. The entrypoint and
            # healthcheck.sh set their own credentials.
            "MYSQL_PWD": random_secret(f"{name}-root"),
        },
        mounts=(Mount(f"{name}-data", "/var/lib/mysql"),),
        tmpfs=("/run/mysqld", "/tmp"),
        cap_add=DB_CAPS,
        healthcheck=Healthcheck(("CMD", "healthcheck.sh", "--connect", "--innodb_initialized")),
    )


def redis(maxmemory_mb: int = 128) -> Service:
    """Append-only, memory-capped, password required.

    The password is written to a config file on tmpfs by the shell builtin
    `printf`, so it is in neither the compose file nor any process's argv.
    """
    start = (
        "printf 'requirepass %s\\n' \"$REDIS_PASSWORD\" > /tmp/redis.conf && "
        "exec redis-server /tmp/redis.conf --dir /data --appendonly yes "
        f"--maxmemory {maxmemory_mb}mb --maxmemory-policy noeviction"
    )
    return Service(
        name="redis",
        role=Role.CACHE,
        image=REDIS,
        limits=Limits(memory_mb=maxmemory_mb + 64, cpus=0.5),
        command=("sh", "-c", start),
        user="redis",
        secret_env={"REDIS_PASSWORD": random_secret("redis")},
        mounts=(Mount("redis-data", "/data"),),
        tmpfs=("/tmp",),
        healthcheck=Healthcheck(
            ("CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG')
        ),
    )


STORAGE_NAME = "storage"
STORAGE_BUCKETS_NAME = "storage-buckets"
STORAGE_S3_PORT = 8333
STORAGE_MASTER_PORT = 9333
STORAGE_ACCESS_KEY_ID = "mailstack-app"
"""The app's access key id (not a secret; its secret key is)."""
STORAGE_SECRET = random_secret("storage-app")
"""The app's secret key: its only identity on the store, scoped to its buckets."""
BUCKET_ACTIONS = ("Read", "Write", "List", "Tagging")


def s3_identities(buckets: Sequence[str]) -> str:
    """SeaweedFS's S3 identities as a `printf` format: `%s` for the key id and secret.

    One identity, the app's, allowed only its own buckets (`Read:<bucket>`, ...).
    There is no admin identity: nobody holds root S3 credentials, and the
    bucket job creates buckets through the master, not the S3 API.
    """
    identity = {
        "identities": [
            {
                "name": "app",
                "credentials": [{"accessKey": "%s", "secretKey": "%s"}],
                "actions": [f"{a}:{b}" for b in buckets for a in BUCKET_ACTIONS],
            }
        ]
    }
    return json.dumps(identity, separators=(",", ":"))


def seaweedfs(buckets: Sequence[str]) -> Service:
    """SeaweedFS: master, volume server, filer and S3 gateway in one container.

    At start the shell builtin `printf` writes the S3 identities from the
    environment to tmpfs, so the secret key is in no process's argv and never
    in compose.yaml (generated secrets are URL-safe: no JSON escaping). Only
    the S3 port is ever routed by the proxy; the master, filer and volume
    ports stay on the internal network. Volumes are capped at 1 GiB: each
    bucket is a collection that grows volumes as it fills, and SeaweedFS's
    30 GB default would reserve a small data disk at the first bucket.
    """
    identities = s3_identities(buckets)
    start = (
        f'printf \'{identities}\' "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY" > /tmp/s3.json'
        " && cd /data && exec weed server -dir=/data -ip=storage -ip.bind=0.0.0.0"
        " -master.volumeSizeLimitMB=1024 -volume.max=0"
        f" -s3 -s3.port={STORAGE_S3_PORT} -s3.config=/tmp/s3.json"
    )
    return Service(
        name=STORAGE_NAME,
        role=Role.STORAGE,
        image=SEAWEEDFS,
        limits=Limits(memory_mb=512),
        entrypoint=("/bin/sh", "-c"),
        command=(start,),
        environment={"S3_ACCESS_KEY_ID": STORAGE_ACCESS_KEY_ID},
        secret_env={"S3_SECRET_ACCESS_KEY": STORAGE_SECRET},
        mounts=(Mount("storage-data", "/data"),),
        tmpfs=("/tmp",),
        healthcheck=http_check(STORAGE_S3_PORT, "/healthz"),
    )


def storage_buckets(buckets: Sequence[str]) -> Service:
    """A one-shot job that creates the buckets (idempotent) once the store is healthy.

    `weed shell` talks to the master on the internal network: no S3
    credentials at all. A bucket already listed is left alone.
    """
    shell = f"weed shell -master={STORAGE_NAME}:{STORAGE_MASTER_PORT}"
    names = " ".join(buckets)
    # The bucket's name as a whole word of the listing (`up` is not `up-loads`).
    listed = 'grep -Eq "(^|[[:space:]])$b([[:space:]]|$)"'
    script = (
        "set -e; for b in "
        + names
        + f"; do if ! echo s3.bucket.list | {shell} | {listed}; then "
        + f'echo "s3.bucket.create -name $b" | {shell}; '
        + f"echo s3.bucket.list | {shell} | {listed}; fi; done"
    )
    return Service(
        name=STORAGE_BUCKETS_NAME,
        role=Role.JOB,
        image=SEAWEEDFS,
        limits=Limits(memory_mb=128, cpus=0.25),
        entrypoint=("/bin/sh", "-c"),
        command=(script,),
        tmpfs=("/tmp",),
        depends_on={STORAGE_NAME: Condition.HEALTHY},
    )


def mail_sink() -> Service:
    """Mailpit: catches every message the app sends; its web UI sits behind the proxy."""
    return Service(
        name=MAIL_SINK_NAME,
        role=Role.MAIL_SINK,
        image=MAILPIT,
        limits=Limits(memory_mb=128, cpus=0.5),
        user="65534:65534",
        environment={"MP_MAX_MESSAGES": "5000", "MP_SMTP_AUTH_ACCEPT_ANY": "1"},
        tmpfs=("/tmp",),
        healthcheck=http_check(MAIL_SINK_UI_PORT, "/readyz"),
    )


def node_exporter(textfile_dir: str = "") -> Service:
    """Prometheus node_exporter: the host's metrics, for the proxy's admin-only /metrics.

    It reads the host's /proc, /sys and root filesystem through read-only
    mounts and the `--path.*` flags, as node_exporter's own Docker
    instructions do, but stays on the internal network (host networking
    would take it out of the proxy's reach and onto the host's interfaces),
    so its network metrics are its own namespace's. The root is mounted
    `rslave`, as those instructions say: mounts and unmounts on the host reach
    it, so it neither misses a volume mounted later nor keeps an unmounted
    one busy. `textfile_dir`: a host directory of `*.prom` files it also serves (the
    backups' metrics); its own mount, since its host parent may be root-only.
    """
    mounts = [
        Mount("/proc", "/host/proc", read_only=True),
        Mount("/sys", "/host/sys", read_only=True),
        Mount("/", "/rootfs", read_only=True, propagation="rslave"),
    ]
    command = ["--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/rootfs"]
    if textfile_dir:
        mounts.append(Mount(textfile_dir, TEXTFILE_DIR, read_only=True))
        command.append(f"--collector.textfile.directory={TEXTFILE_DIR}")
    return Service(
        name=NODE_EXPORTER_NAME,
        role=Role.METRICS,
        image=NODE_EXPORTER,
        limits=Limits(memory_mb=64, cpus=0.25, pids=128),
        command=tuple(command),
        user="65534:65534",
        mounts=tuple(mounts),
        healthcheck=http_check(NODE_EXPORTER_PORT, "/"),
    )


def worker(
    name: str,
    image: Image,
    command: Sequence[str],
    *,
    environment: Mapping[str, str] | None = None,
    secret_env: Mapping[str, Secret] | None = None,
    mounts: Sequence[Mount] = (),
    depends_on: Mapping[str, Condition] | None = None,
    networks: Sequence[Network] = (Network.INTERNAL,),
    user: str = "",
    memory_mb: int = 256,
) -> Service:
    """A cron-like loop or queue worker. Healthy while its heartbeat file is fresh:
    the command must `touch /tmp/heartbeat` on every round."""
    return Service(
        name=name,
        role=Role.WORKER,
        image=image,
        limits=Limits(memory_mb=memory_mb, cpus=0.5),
        command=tuple(command),
        environment=dict(environment or {}),
        secret_env=dict(secret_env or {}),
        mounts=tuple(mounts),
        tmpfs=("/tmp",),
        networks=tuple(networks),
        depends_on=dict(depends_on or {}),
        user=user,
        healthcheck=Healthcheck(
            ("CMD-SHELL", 'test -n "$(find /tmp/heartbeat -mmin -3 2>/dev/null)"'),
            interval="30s",
            start_period="120s",
        ),
    )
