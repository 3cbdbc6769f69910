"""The config sections: every Pulumi key, its type, default and documentation.

Every key is a flat, typed Pulumi key (`mailstack:serverType`), because
Pulumi.yaml can declare type, description and default only for strings,
integers, booleans and arrays. In Python the keys are grouped into sections;
each field's alias is its Pulumi key, its description is the generated docs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from common.enums import (
    Alignment,
    AppPreset,
    DkimSigner,
    DmarcPolicy,
    DnsProvider,
    Environment,
    MailRelay,
    MtaStsMode,
    ServerImage,
    SpfAll,
    Target,
)
from mailstack.config.types import (
    Calendar,
    Cidr,
    ContainerPath,
    DnsLabel,
    Domain,
    EnvAssignment,
    HetznerLabel,
    HttpsUrl,
    OptionalCalendar,
    OptionalEmail,
    Port,
    SpfDomain,
    SshPublicKey,
)


def key(
    alias: str,
    default: Any = ...,
    description: str = "",
    secret: bool = False,
    example: str = "",
    **constraints: Any,
) -> Any:
    """A config field: `alias` is the Pulumi key, the description is the docs.

    `example` is a valid value, shown when a value breaks the field's pattern
    (a regex alone does not tell a user what to write).
    """
    extra: JsonDict = {}
    if secret:
        extra["secret"] = True
    if example:
        extra["example"] = example
    return Field(
        default,
        alias=alias,
        description=description,
        json_schema_extra=extra or None,
        **constraints,
    )


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=False, use_enum_values=False
    )


class StackSection(Section):
    environment: Environment = key(
        "environment",
        Environment.DEV,
        "Environment of this stack: local, dev or prod. prod turns on protection "
        "against `pulumi destroy` and refuses world-open SSH.",
    )
    target: Target = key(
        "target",
        Target.HETZNER,
        "Where services run: `local` (the local Docker engine) or `hetzner` (a cloud server).",
    )
    expires_at: str = key(
        "expiresAt",
        "",
        "Throwaway stacks only: UTC date (YYYY-MM-DD) after which the reaper may delete "
        "the server. Empty for long-lived stacks.",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        example="2026-12-31",
    )


class DomainSection(Section):
    domain: Domain = key(
        "domain", description="Mail domain, e.g. `example.com`. Required.", example="example.com"
    )
    app_subdomain: DnsLabel = key(
        "appSubdomain", "app", "Label of the app's web host: `<appSubdomain>.<domain>`."
    )
    mail_subdomain: DnsLabel = key(
        "mailSubdomain",
        "mail",
        "Label of the sending host: `<mailSubdomain>.<domain>`; its A/AAAA records and "
        "the server's reverse DNS use this name.",
    )
    www_redirect: bool = key("wwwRedirect", False, "Redirect `www.<domain>` to the app host.")

    @property
    def app_host(self) -> str:
        return f"{self.app_subdomain}.{self.domain}"

    @property
    def mail_host(self) -> str:
        return f"{self.mail_subdomain}.{self.domain}"


class ServerSection(Section):
    type: str = key(
        "serverType",
        "cx23",
        "Hetzner server type (Hetzner retires types: check `hcloud server-type list`).",
        pattern=r"^[a-z]{2,4}\d{1,3}$",
        example="cx23",
    )
    image: ServerImage = key(
        "serverImage",
        ServerImage.UBUNTU_2404,
        "OS image: ubuntu-24.04, debian-12 or debian-13. Changing it never replaces a "
        "running server.",
    )
    location: str = key(
        "serverLocation",
        "nbg1",
        "Hetzner location, e.g. nbg1, fsn1, hel1, ash, hil, sin.",
        pattern=r"^[a-z]{3}\d?$",
        example="nbg1",
    )
    backups: bool = key("serverBackups", False, "Turn on Hetzner's own daily server backups.")
    swap_mib: int = key(
        "serverSwapMib", 2048, "Swap file size in MiB (0 turns swap off).", ge=0, le=65536
    )
    volume_size_gb: int = key(
        "volumeSizeGb", 20, "Size of the data volume in GB (Hetzner minimum 10).", ge=10, le=10240
    )
    labels: list[HetznerLabel] = key(
        "serverLabels", [], "Extra Hetzner labels for the server, as `key=value` strings."
    )
    reboot_time: str = key(
        "serverRebootTime",
        "04:00",
        "Local time (HH:MM, UTC) at which unattended security upgrades may reboot the server.",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        example="04:00",
    )


class AdminSection(Section):
    user: str = key(
        "adminUser",
        "mailadmin",
        "Name of the non-root sudo user that SSH allows. Created at first boot only: "
        "changing it on an existing server shuts the deploy out (it logs in as this user); "
        "a new server is needed (see README).",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        example="mailadmin",
    )
    ssh_public_keys: list[SshPublicKey] = key(
        "sshPublicKeys",
        [],
        "OpenSSH public keys allowed to log in as the admin user: the whole list, so a key "
        "removed here is revoked on the server at the next `pulumi up`.",
    )
    register_ssh_keys: bool = key(
        "registerSshKeys",
        True,
        "Also register `sshPublicKeys` as Hetzner SSH keys. Hetzner takes a key once per "
        "project, so throwaway stacks beside dev set false. The admin keys reach the admin "
        "user through the access step either way, and the stack's own deploy key is always "
        "registered, so Hetzner never mails out a root password.",
    )
    cidrs: list[Cidr] = key(
        "adminCidrs",
        [],
        "CIDR blocks allowed to reach SSH and the app's admin paths. Never the whole "
        "internet in prod. Admin paths see IPv4 clients only: the proxy's network is "
        "IPv4-only, so an IPv6 client arrives from the Docker gateway and gets 403.",
    )
    tailscale: bool = key(
        "tailscale",
        False,
        "Install Tailscale, join the tailnet over SSH after boot and allow SSH on the "
        "tailnet; from the internet SSH stays limited to `adminCidrs`. Needs `tailscaleAuthKey`.",
    )
    extra_tcp_ports: list[Port] = key(
        "firewallExtraTcpPorts",
        [],
        "Extra TCP ports opened to the internet besides 80 and 443. Keep empty unless needed.",
    )


class DnsSection(Section):
    provider: DnsProvider = key(
        "dnsProvider", DnsProvider.CLOUDFLARE, "Who manages DNS: `cloudflare` or `none`."
    )
    zone_id: str = key(
        "cloudflareZoneId",
        "",
        "Cloudflare zone id of `domain` (32 hex characters).",
        pattern=r"^([0-9a-f]{32})?$",
        example="0123456789abcdef0123456789abcdef",
    )
    proxy_web: bool = key(
        "proxyWeb",
        False,
        "Proxy the app host through Cloudflare. Mail names are never proxied. The proxy then "
        "sees Cloudflare's addresses as every client, so admin paths answer 403 to everyone "
        "but the tailnet (a warning says so).",
    )
    spf_all: SpfAll = key("spfAll", SpfAll.SOFTFAIL, "SPF terminator: `-all` or `~all`.")
    spf_includes: list[SpfDomain] = key(
        "spfIncludes",
        [],
        "Extra SPF `include:` domains for other senders. Each costs a DNS lookup, and so "
        "do the lookups inside it: at most 10 in all.",
    )
    spf_server_ips: bool = key(
        "spfServerIps",
        False,
        "Put the server's own IPs into SPF. Only when it delivers mail itself (Hetzner "
        "blocks outbound 25 until asked); with a relay the relay is the sender.",
    )
    dkim_selectors: list[DnsLabel] = key(
        "dkimSelectors",
        ["ms202611"],
        "DKIM selectors to publish, newest last; the last one signs. Two at once during "
        "a key rotation.",
        min_length=1,
        max_length=2,
    )
    dkim_signer: DkimSigner = key(
        "dkimSigner",
        DkimSigner.AUTO,
        "Who signs: `own` (mailstack's keys), `ses` (SES Easy DKIM) or `auto` (SES when "
        "`sesDkimTokens` are set with `mailRelay: ses`, else own).",
    )
    ses_dkim_tokens: list[Annotated[str, Field(pattern=r"^[a-z0-9]{32}$")]] = key(
        "sesDkimTokens",
        [],
        "The three SES Easy DKIM tokens of the domain identity (SES console or "
        "`aws sesv2 get-email-identity`); published as `<token>._domainkey` CNAMEs.",
        example="abcdefghijklmnopqrstuvwxyz012345",
    )
    dmarc_policy: DmarcPolicy = key(
        "dmarcPolicy",
        DmarcPolicy.NONE,
        "DMARC policy; ramp none -> quarantine -> reject, a step every few weeks while "
        "aggregate reports show only your own senders.",
    )
    dmarc_subdomain_policy: str = key(
        "dmarcSubdomainPolicy",
        "",
        "DMARC `sp=` (none, quarantine or reject); empty means the main policy.",
        pattern=r"^(none|quarantine|reject)?$",
        example="reject",
    )
    dmarc_pct: int = key(
        "dmarcPct",
        100,
        "DMARC `pct=`: share of failing mail the policy applies to. RFC 9989 dropped it; "
        "written only below 100 for receivers that still read it.",
        ge=0,
        le=100,
    )
    dmarc_rua: OptionalEmail = key(
        "dmarcRua", "", "Address for aggregate DMARC reports; defaults to `dmarc@<domain>`."
    )
    dmarc_ruf: OptionalEmail = key("dmarcRuf", "", "Address for forensic DMARC reports (optional).")
    dkim_alignment: Alignment = key(
        "dmarcAlignDkim", Alignment.RELAXED, "DMARC `adkim=`: `r` relaxed or `s` strict."
    )
    spf_alignment: Alignment = key(
        "dmarcAlignSpf", Alignment.RELAXED, "DMARC `aspf=`: `r` relaxed or `s` strict."
    )
    receives_mail: bool = key(
        "receivesMail",
        False,
        "Publish MX (and MTA-STS/TLS-RPT when on) so the platform receives bounces and replies.",
    )
    mta_sts: bool = key("mtaSts", False, "Publish an MTA-STS policy (needs `receivesMail`).")
    mta_sts_mode: MtaStsMode = key(
        "mtaStsMode",
        MtaStsMode.TESTING,
        "MTA-STS mode: `testing` (report only) first, `enforce` once TLS-RPT reports are clean.",
    )
    tls_rpt: OptionalEmail = key(
        "tlsRptEmail", "", "Address for TLS-RPT reports (optional; needs `receivesMail`)."
    )
    caa_issuer: Domain = key(
        "caaIssuer", "letsencrypt.org", "The only CA allowed to issue certificates (CAA)."
    )
    caa_iodef: OptionalEmail = key(
        "caaIodef", "", "CAA `iodef` address; defaults to the DMARC report address."
    )
    null_mx_names: list[Domain] = key(
        "nullMxNames", [], "Names that never send or receive: null MX plus `v=spf1 -all`."
    )


class MailSection(Section):
    relay: MailRelay = key(
        "mailRelay",
        MailRelay.SES,
        "How mail leaves: `ses`, `smtp` (another relay) or `sink` (local only). Hetzner "
        "blocks outbound 25/465.",
    )
    from_address: OptionalEmail = key(
        "fromAddress", "", "Sender address; defaults to `noreply@<domain>`."
    )
    smtp_host: str = key("smtpHost", "", "SMTP relay host (for `smtp`; `ses` derives it).")
    smtp_port: Port = key("smtpPort", 587, "SMTP relay port (587 with STARTTLS).")
    smtp_username: str = key("smtpUsername", "", "SMTP relay user name.")
    ses_region: str = key(
        "sesRegion",
        "eu-central-1",
        "AWS region of SES.",
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        example="eu-central-1",
    )
    ses_as_code: bool = key(
        "sesAsCode",
        False,
        "`mailRelay: ses` on servers: make the SES side as code in `sesRegion` (AWS "
        "credentials needed): the domain identity signed with mailstack's DKIM key (or "
        "Easy DKIM with `dkimSigner: ses`), the MAIL FROM domain, and a configuration set "
        "whose bounces and complaints reach listmonk's SES webhook through SNS.",
    )
    ses_mail_from_subdomain: DnsLabel = key(
        "sesMailFromSubdomain",
        "bounce",
        "SES custom MAIL FROM: `<label>.<domain>` gets an MX to SES and its own SPF, so "
        "the envelope sender aligns with the domain.",
    )


class AppSection(Section):
    preset: AppPreset = key(
        "app",
        AppPreset.LISTMONK,
        "App preset: listmonk, mailwizz, transactional-api, web-api or custom.",
    )
    image: str = key(
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
    admin_paths: list[str] = key(
        "appAdminPaths",
        [],
        "Extra URL path patterns (Caddy syntax, e.g. `/admin/*`) reachable only from "
        "`adminCidrs` or the tailnet.",
    )
    health_command: list[Annotated[str, Field(min_length=1)]] = key(
        "appHealthCommand",
        [],
        "Healthcheck of the app container (the API for `web-api`): a command and its "
        "arguments, run without a shell, healthy on exit 0, e.g. `[curl, -fsS, "
        "'http://127.0.0.1:8000/healthz']`. Empty: the preset's own check; for "
        "transactional-api, web-api and custom that is `wget` on `appHealthPath` at "
        "`appPort`, so the image must ship `wget` (busybox or GNU) or set this.",
    )
    web_image: str = key(
        "appWebImage", "", "`web-api` only: image of the web front end (the API is `appImage`)."
    )
    web_port: Port = key("appWebPort", 3000, "`web-api` only: port the web front end listens on.")
    web_health_command: list[Annotated[str, Field(min_length=1)]] = key(
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
    image_registry: str = key(
        "imageRegistry",
        "",
        "Registry host of private images and of images mailstack builds, e.g. `ghcr.io` "
        "(with `imageRegistryUsername` and the secret `imageRegistryPassword`).",
        pattern=r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?)?$",
        example="ghcr.io",
    )
    image_registry_username: str = key("imageRegistryUsername", "", "User name at `imageRegistry`.")
    image_repository: str = key(
        "imageRepository",
        "",
        "Where images mailstack builds are pushed, e.g. `ghcr.io/acme/mailstack` (the "
        "registry is its host; credentials `imageRegistryUsername`/`imageRegistryPassword`).",
        pattern=r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)+)?$",
        example="ghcr.io/acme/mailstack",
    )
    image_build: str = key(
        "appImageBuild",
        "",
        "Build the app image from this directory of the repo (its Dockerfile), push it to "
        "`imageRepository` and run it, e.g. `assets/images/mailwizz-php` for MailWizz's "
        "PHP-FPM with its extensions. Instead of `appImage`.",
        pattern=r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*)?$",
        example="assets/images/mailwizz-php",
    )
    mailwizz_archive_sha256: str = key(
        "mailwizzArchiveSha256",
        "",
        "`mailwizz` only: SHA-256 of the licensed source zip at the secret "
        "`mailwizzArchiveUrl`; the server downloads it, checks it and unpacks it into "
        "the project's `mailwizz/` directory (again when this changes).",
        pattern=r"^([0-9a-f]{64})?$",
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
    storage_subdomain: str = key(
        "storageSubdomain",
        "",
        "Servers: serve the store's S3 API (nothing else) on `<storageSubdomain>.<domain>` "
        "with HTTPS, so presigned URLs work from outside (`S3_PUBLIC_ENDPOINT`). Empty: "
        "the store is reachable from the app only.",
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$",
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
        "`tailscale`) only. The `local` stack runs no exporter.",
    )
    local_http_port: Port = key(
        "localHttpPort", 8080, "`local` stack: the app is served on http://localhost:<this>."
    )
    local_mail_ui_port: Port = key(
        "localMailUiPort",
        8025,
        "`local` stack: the mail sink's web UI is served on http://localhost:<this>.",
    )


class BackupSection(Section):
    enabled: bool = key("backupEnabled", True, "Run scheduled, encrypted off-site backups.")
    repository: str = key(
        "backupRepository",
        "",
        "restic repository, e.g. `s3:https://fsn1.your-objectstorage.com/bucket/mailstack`.",
    )
    s3_access_key_id: str = key(
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
        "backupMaxAgeHours", 26, "A last success older than this is reported as stale.", ge=1
    )
    check_schedule: Calendar = key(
        "backupCheckSchedule",
        "Sun *-*-* 05:30:00",
        "When `restic check` reads a subset of the repository's data (systemd OnCalendar).",
    )
    check_subset: str = key(
        "backupCheckReadDataSubset",
        "5%",
        "Share of the repository's data each check reads: `n%` or `n/t` (restic "
        "`--read-data-subset`).",
        pattern=r"^((100|[1-9]?[0-9](\.[0-9]+)?)%|[1-9][0-9]*/[1-9][0-9]*)$",
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
    image_registry_password: str = key(
        "imageRegistryPassword",
        "",
        "Password or token for `imageRegistry` (GHCR: a token with `read:packages`, and "
        "`write:packages` when mailstack builds images).",
        secret=True,
    )
    smtp_password: str = key(
        "smtpPassword", "", "SMTP relay password (SES SMTP password for `ses`).", secret=True
    )
    backup_password: str = key("backupPassword", "", "restic repository password.", secret=True)
    backup_s3_secret_access_key: str = key(
        "backupS3SecretAccessKey", "", "Secret key of the backup target.", secret=True
    )
    tailscale_auth_key: str = key(
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


SECTIONS: dict[str, type[Section]] = {
    "stack": StackSection,
    "domain": DomainSection,
    "server": ServerSection,
    "admin": AdminSection,
    "dns": DnsSection,
    "mail": MailSection,
    "app": AppSection,
    "services": ServicesSection,
    "backup": BackupSection,
    "secrets": SecretKeys,
}
