"""The app, the services beside it, backups and the secret keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.enums import (
    AppPreset,
)
from mailstack.config.app_types import (
    ContainerPath,
    EnvAssignment,
    ImageRepository,
    OptionalSha256,
    RegistryHost,
    RegistryUser,
    RepoDir,
)
from mailstack.config.sections.base import Section, key
from mailstack.config.types import (
    CaddyPath,
    Calendar,
    CheckSubset,
    DnsLabel,
    HttpsUrl,
    OptionalCalendar,
    OptionalDnsLabel,
    OptionalEmail,
    OptionalImage,
    Port,
    Printable,
    RegistryMirror,
    ResticPassword,
    ResticRepository,
    SecretText,
)


class AppSection(Section):
    preset: AppPreset = key(
        "app",
        AppPreset.LISTMONK,
        "App preset: listmonk, mailwizz, transactional-api, web-api or custom.",
    )
    image: OptionalImage = key(
        "appImage", "", "Container image of the app (required for `custom`; overrides a preset)."
    )
    port: Port = key("appPort", 9000, "Port the app listens on inside its container.")
    health_path: str = key(
        "appHealthPath",
        "/",
        "HTTP path the proxy and healthcheck probe.",
        pattern=r"^/\S*$",
        example="/health",
    )
    admin_paths: list[CaddyPath] = key(
        "appAdminPaths",
        [],
        "Extra URL path patterns (Caddy syntax, e.g. `/admin/*`) reachable only from "
        "`adminCidrs` or the tailnet.",
    )
    health_command: list[Annotated[Printable, Field(min_length=1)]] = key(
        "appHealthCommand",
        [],
        "Healthcheck of the app container (the API for `web-api`): a command and its "
        "arguments, run without a shell, healthy on exit 0, e.g. `[curl, -fsS, "
        "'http://127.0.0.1:8000/healthz']`. Empty: the preset's own check; for "
        "transactional-api, web-api and custom that is `wget` on `appHealthPath` at "
        "`appPort`, so the image must ship `wget` (busybox or GNU) or set this.",
    )
    web_image: OptionalImage = key(
        "appWebImage", "", "`web-api` only: image of the web front end (the API is `appImage`)."
    )
    web_port: Port = key("appWebPort", 3000, "`web-api` only: port the web front end listens on.")
    web_health_command: list[Annotated[Printable, Field(min_length=1)]] = key(
        "appWebHealthCommand",
        [],
        "`web-api` only: healthcheck of the web front end, like `appHealthCommand`. "
        "Empty: `wget` on `/` at `appWebPort` (the image must ship `wget`).",
    )
    pin_digests: bool = key(
        "pinImageDigests",
        True,
        "Servers: resolve every image's tag to its digest at preview (a moved tag shows "
        "in the diff) and deploy by that digest. The `local` stack runs what its engine has.",
    )
    image_registry: RegistryHost = key(
        "imageRegistry",
        "",
        "Registry host of private images and of images mailstack builds, e.g. `ghcr.io` "
        "(with `imageRegistryUsername` and the secret `imageRegistryPassword`).",
        example="ghcr.io",
    )
    image_registry_username: RegistryUser = key(
        "imageRegistryUsername", "", "User name at `imageRegistry`.", example="my-org-bot"
    )
    image_repository: ImageRepository = key(
        "imageRepository",
        "",
        "Where images mailstack builds are pushed, e.g. `ghcr.io/acme/mailstack` (the "
        "registry is its host; credentials `imageRegistryUsername`/`imageRegistryPassword`).",
        example="ghcr.io/acme/mailstack",
    )
    image_build: RepoDir = key(
        "appImageBuild",
        "",
        "Build the app image from this directory of the repo (its Dockerfile), push it to "
        "`imageRepository` and run it, e.g. `assets/images/mailwizz-php` for MailWizz's "
        "PHP-FPM with its extensions. Instead of `appImage`.",
        example="assets/images/mailwizz-php",
    )
    mailwizz_archive_sha256: OptionalSha256 = key(
        "mailwizzArchiveSha256",
        "",
        "`mailwizz` only: SHA-256 of the licensed source zip at the secret "
        "`mailwizzArchiveUrl`; the server downloads it, checks it and unpacks it into "
        "the project's `mailwizz/` directory (again when this changes).",
        example="<64 hex digits from `sha256sum mailwizz.zip`>",
    )
    env: list[EnvAssignment] = key(
        "appEnv",
        [],
        "Plain environment variables of the app (the API for `web-api`; MailWizz's PHP "
        "and cron), as `NAME=value` strings. Passed on literally (`$` is no variable). "
        "Names the preset sets itself (`SMTP_*`, `S3_*`, `REDIS_*`, `DATABASE_*`, "
        "`MAIL_FROM`, `APP_URL`, `PORT`, `DATA_DIR`, ...) are refused. Secrets go to "
        "`appSecretEnv`.",
    )
    data_paths: list[ContainerPath] = key(
        "appDataPaths",
        [],
        "Directories in the app container that keep data: each is a volume on the data "
        "volume, backed up and restored. Empty: the preset's own (`/data` for "
        "transactional-api, none for custom and web-api).",
    )
    sqlite_files: list[ContainerPath] = key(
        "appSqliteFiles",
        [],
        "SQLite databases the app writes, as paths in the container, each inside one of "
        "`appDataPaths`: backups copy them consistently (`VACUUM INTO`) while the app "
        "runs, never as raw files. Empty: the preset's own (`/data/app.db` for "
        "transactional-api).",
    )


class ServicesSection(Section):
    redis: bool = key("redis", False, "Run Redis (append-only, memory capped) for the app.")
    storage: bool = key(
        "storage",
        False,
        "Run S3 object storage (SeaweedFS) for the app; `web-api` always runs it. The app "
        "gets `S3_ENDPOINT`, `S3_BUCKET(S)`, `S3_ACCESS_KEY_ID` and the secret "
        "`S3_SECRET_ACCESS_KEY` of its own key, allowed its buckets only.",
    )
    storage_buckets: list[DnsLabel] = key(
        "storageBuckets",
        ["uploads"],
        "Buckets created as code (a one-shot job on every deploy; existing ones stay). "
        "The app's key may use these and no others.",
        min_length=1,
    )
    storage_subdomain: OptionalDnsLabel = key(
        "storageSubdomain",
        "",
        "Servers: serve the store's S3 API (nothing else) on `<storageSubdomain>.<domain>` "
        "with HTTPS, so presigned URLs work from outside (`S3_PUBLIC_ENDPOINT`). Empty: "
        "the store is reachable from the app only.",
        example="files",
    )
    local_storage_port: Port = key(
        "localStoragePort",
        8333,
        "`local` stack with storage: the S3 API is served on http://localhost:<this>.",
    )
    minio: bool = key(
        "minio",
        False,
        "Removed: MinIO publishes no images any more. `true` is an error; use `storage`.",
    )
    minio_buckets: list[DnsLabel] = key(
        "minioBuckets", [], "Removed with `minio`; use `storageBuckets`."
    )
    monitoring: bool = key(
        "monitoring",
        True,
        "Servers: run Prometheus node_exporter (host metrics and the backups' metrics) and "
        "serve it at `https://<appHost>/metrics` to `adminCidrs` (and the tailnet with "
        "`tailscale`) only; and Prometheus, Alertmanager, blackbox probes, cAdvisor and "
        "Grafana at `/prometheus`, `/alertmanager`, `/grafana`, admin-only as well. The "
        "`local` stack runs none of it unless `localMonitoring`.",
    )
    # --- the monitoring stack: Prometheus, Alertmanager, probes, Grafana ---
    local_monitoring: bool = key(
        "localMonitoring",
        False,
        "`local` stack: also run Prometheus, Alertmanager, the blackbox probes and Grafana "
        "(servers run them, with cAdvisor, whenever `monitoring` is on). Alerts go to the "
        "mail sink.",
    )
    alert_email: OptionalEmail = key(
        "alertEmail",
        "",
        "Where alerts are emailed, through the stack's relay. Empty: `postmaster@<domain>`.",
    )
    alert_cooldown_minutes: int = key(
        "alertCooldownMinutes",
        60,
        "How often an alert that still fires is sent again (Alertmanager's repeat_interval).",
        ge=5,
        le=10080,
    )
    alert_disk_percent: int = key(
        "alertDiskPercent", 90, "Alert when a filesystem is fuller than this (%).", ge=50, le=99
    )
    alert_memory_percent: int = key(
        "alertMemoryPercent",
        90,
        "Alert when memory use stays above this (%) for 5 minutes.",
        ge=50,
        le=99,
    )
    alert_cpu_percent: int = key(
        "alertCpuPercent",
        80,
        "Alert when CPU use stays above this (%) for 5 minutes.",
        ge=10,
        le=99,
    )
    alert_send_failure_percent: int = key(
        "alertSendFailurePercent",
        20,
        "Alert when more than this share (%) of sends fail, where the app exports "
        "`mailstack_mail_send_attempts_total` and `mailstack_mail_send_failures_total`.",
        ge=1,
        le=99,
    )
    alert_cert_days: int = key(
        "alertCertDays",
        14,
        "Alert when the app's certificate expires within this many days.",
        ge=1,
        le=60,
    )
    local_http_port: Port = key(
        "localHttpPort", 8080, "`local` stack: the app is served on http://localhost:<this>."
    )
    local_mail_ui_port: Port = key(
        "localMailUiPort",
        8025,
        "`local` stack: the mail sink's web UI is served on http://localhost:<this>.",
    )
    image_registry_mirror: RegistryMirror = key(
        "imageRegistryMirror",
        "",
        "Pull every service image through this registry mirror (host[:port][/path]): "
        "`caddy:2.11.7` becomes `<mirror>/library/caddy:2.11.7`, `ghcr.io/x/y:1` "
        "`<mirror>/ghcr.io/x/y:1`. Empty: each image's own registry.",
        example="mirror.internal:5000",
    )


class BackupSection(Section):
    enabled: bool = key("backupEnabled", True, "Run scheduled, encrypted off-site backups.")
    repository: ResticRepository = key(
        "backupRepository",
        "",
        "restic repository, e.g. `s3:https://fsn1.your-objectstorage.com/bucket/mailstack`.",
    )
    s3_access_key_id: Printable = key(
        "backupS3AccessKeyId", "", "Access key id of the S3-compatible backup target."
    )
    schedule: OptionalCalendar = key(
        "backupSchedule",
        "*-*-* 03:15:00",
        "When backups run (systemd OnCalendar). Empty: never on a schedule; the backup "
        "and restore tools are installed and the repository is created, but no timer "
        "runs (throwaway stacks: for the restore drill).",
    )
    keep_daily: int = key("backupKeepDaily", 7, "Daily snapshots kept.", ge=0, le=366)
    keep_weekly: int = key("backupKeepWeekly", 4, "Weekly snapshots kept.", ge=0, le=520)
    keep_monthly: int = key("backupKeepMonthly", 12, "Monthly snapshots kept.", ge=0, le=600)
    max_age_hours: int = key(
        "backupMaxAgeHours",
        26,
        "A last success older than this is reported as stale (at most ten years, so the "
        "status check's arithmetic cannot overflow).",
        ge=1,
        le=87600,
    )
    check_schedule: Calendar = key(
        "backupCheckSchedule",
        "Sun *-*-* 05:30:00",
        "When `restic check` reads a subset of the repository's data (systemd OnCalendar).",
    )
    check_subset: CheckSubset = key(
        "backupCheckReadDataSubset",
        "5%",
        "Share of the repository's data each check reads: `n%` or `n/t` (restic "
        "`--read-data-subset`).",
        example="5%",
    )

    @property
    def scheduled(self) -> bool:
        """Whether timers run backups, repository checks and the status refresh."""
        return self.enabled and bool(self.schedule)


class SecretKeys(Section):
    """Secret keys: set with `pulumi config set --secret`; never plain."""

    app_secret_env: str = key(
        "appSecretEnv",
        "",
        "Secret environment variables of the app, an object of NAME: value, one "
        "variable at a time: `pulumi config set --secret --path 'appSecretEnv.API_KEY' "
        "...` (or the whole object as a secret JSON string). Names as for `appEnv`; "
        "values on one line without `'`. They reach the app only through its root-only "
        "env file.",
        secret=True,
    )

    mailwizz_archive_url: HttpsUrl = key(
        "mailwizzArchiveUrl",
        "",
        "https URL of the MailWizz source zip (a secret: a licensed download link is a "
        "credential); with `mailwizzArchiveSha256`.",
        secret=True,
        example="https://files.example.com/mailwizz-2.6.0.zip",
    )
    image_registry_password: SecretText = key(
        "imageRegistryPassword",
        "",
        "Password or token for `imageRegistry` (GHCR: a token with `read:packages`, and "
        "`write:packages` when mailstack builds images).",
        secret=True,
    )
    smtp_password: SecretText = key(
        "smtpPassword", "", "SMTP relay password (SES SMTP password for `ses`).", secret=True
    )
    backup_password: ResticPassword = key(
        "backupPassword",
        "",
        "restic repository password (no whitespace at either end: restic trims it).",
        secret=True,
    )
    backup_s3_secret_access_key: SecretText = key(
        "backupS3SecretAccessKey", "", "Secret key of the backup target.", secret=True
    )
    tailscale_auth_key: SecretText = key(
        "tailscaleAuthKey", "", "Tailscale auth key (with `tailscale`).", secret=True
    )
    backup_heartbeat_url: HttpsUrl = key(
        "backupHeartbeatUrl",
        "",
        "URL pinged after each successful backup (optional). A secret: whoever has it "
        "can fake the ping.",
        secret=True,
        example="https://hc-ping.com/<uuid>",
    )
    alert_webhook_url: HttpsUrl = key(
        "alertWebhookUrl",
        "",
        "Also post alerts to this Slack-format webhook (Slack, Mattermost, or Discord's "
        "webhook URL + `/slack`); optional. A secret: whoever has it can post to the channel.",
        secret=True,
        example="https://hooks.slack.com/services/T000/B000/XXXX",
    )
