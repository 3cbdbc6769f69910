"""The stack configuration: the only module that knows Pulumi config keys.

Every key is a flat, typed Pulumi key (`mailstack:serverType`), because
Pulumi.yaml can declare type, description and default only for strings,
integers, booleans and arrays. In Python the keys are grouped into sections;
each field's alias is its Pulumi key. `load_config` reads the keys, validates
everything at once and raises one `ConfigError` listing every problem, each
named by its key path in Pulumi's notation, before any resource exists.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from components.firewall import MIN_SSH_PREFIX, too_broad_for_ssh
from components.mail_records import SPF_MAX_LOOKUPS, null_mx_label, spf_lookup_count
from mailstack import throwaway

PROJECT = "mailstack"

# --- reusable value types -------------------------------------------------

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_EMAIL_RE = re.compile(rf"^[A-Za-z0-9._%+-]+@{_HOSTNAME_RE.pattern[1:-1]}$")
# systemd OnCalendar is checked for real by systemd-analyze in the artifact
# tests; here only characters that could break a unit file are refused.
_CALENDAR_RE = re.compile(r"^[A-Za-z0-9*:/.,~ -]+$")


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _HOSTNAME_RE.match(value):
        raise ValueError(f"{value!r} is not a domain name; expected e.g. 'example.com'")
    return value


# Names that only carry TXT data, like SPF's `_spf.google.com`, may hold underscores.
_TXT_NAME_RE = re.compile(r"^(?=.{1,253}$)((?!-)[a-z0-9_-]{1,63}(?<!-)\.)+[a-z]{2,63}$")


def _spf_domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _TXT_NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a domain name; expected the SPF domain a sender documents, "
            "e.g. '_spf.google.com' (without 'include:')"
        )
    return value


def _label(value: str) -> str:
    if not _LABEL_RE.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label; expected lowercase letters, digits and "
            "inner hyphens, e.g. 'app'"
        )
    return value


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not an email address; expected e.g. 'ops@example.com'")
    return value


def _optional_email(value: str) -> str:
    return _email(value) if value else value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as err:
        raise ValueError(
            f"{value!r} is not a CIDR block ({err}); expected e.g. '198.51.100.7/32'"
        ) from None


def _ssh_public_key(value: str) -> str:
    parts = value.split()
    allowed = (
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "sk-ssh-ed25519@openssh.com",
    )
    if len(parts) < 2 or parts[0] not in allowed or not re.fullmatch(r"[A-Za-z0-9+/=]+", parts[1]):
        raise ValueError(
            "not an OpenSSH public key; expected one line such as 'ssh-ed25519 AAAA... you@laptop'"
        )
    return value.strip()


def _https_url(value: str) -> str:
    if value and not re.match(r"^https://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


def _calendar(value: str) -> str:
    if not _CALENDAR_RE.match(value):
        raise ValueError(
            f"{value!r} is not a systemd calendar expression; expected e.g. '*-*-* 03:15:00'"
        )
    return value


def _optional_calendar(value: str) -> str:
    return _calendar(value) if value else value


def _hetzner_label(value: str) -> str:
    # Hetzner label rules: key (optional prefix/) name up to 63 chars, value up to 63.
    key, sep, val = value.partition("=")
    name_re = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
    prefix, _, name = key.rpartition("/")
    ok = bool(sep) and re.fullmatch(name_re, name) is not None
    ok = ok and (not prefix or _HOSTNAME_RE.match(prefix) is not None)
    ok = ok and (val == "" or re.fullmatch(name_re, val) is not None)
    if not ok:
        raise ValueError(
            f"{value!r} is not a Hetzner label; expected 'key=value' with letters, digits, "
            "'-', '_' or '.', at most 63 characters each, starting and ending alphanumeric"
        )
    return value


Domain = Annotated[str, AfterValidator(_domain)]
SpfDomain = Annotated[str, AfterValidator(_spf_domain)]
DnsLabel = Annotated[str, AfterValidator(_label)]
Email = Annotated[str, AfterValidator(_email)]
OptionalEmail = Annotated[str, AfterValidator(_optional_email)]
Cidr = Annotated[str, AfterValidator(_cidr)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_public_key)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Calendar = Annotated[str, AfterValidator(_calendar)]
OptionalCalendar = Annotated[str, AfterValidator(_optional_calendar)]
HetznerLabel = Annotated[str, AfterValidator(_hetzner_label)]
Port = Annotated[int, Field(ge=1, le=65535)]


# --- enums ------------------------------------------------------------------


class Environment(enum.StrEnum):
    LOCAL = "local"
    DEV = "dev"
    PROD = "prod"


class Target(enum.StrEnum):
    LOCAL = "local"
    """Services on the local Docker engine; no cloud account."""
    HETZNER = "hetzner"
    """A Hetzner Cloud server with DNS on Cloudflare."""


class ServerImage(enum.StrEnum):
    UBUNTU_2404 = "ubuntu-24.04"
    DEBIAN_12 = "debian-12"
    DEBIAN_13 = "debian-13"


class DnsProvider(enum.StrEnum):
    CLOUDFLARE = "cloudflare"
    NONE = "none"


class DmarcPolicy(enum.StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Alignment(enum.StrEnum):
    RELAXED = "r"
    STRICT = "s"


class SpfAll(enum.StrEnum):
    FAIL = "-all"
    SOFTFAIL = "~all"


class DkimSigner(enum.StrEnum):
    AUTO = "auto"
    """SES when `mailRelay: ses` and `sesDkimTokens` are set, else mailstack's own keys."""
    OWN = "own"
    """mailstack's own RSA keys under `dkimSelectors`."""
    SES = "ses"
    """SES Easy DKIM (needs `mailRelay: ses` and `sesDkimTokens`)."""


class MtaStsMode(enum.StrEnum):
    TESTING = "testing"
    ENFORCE = "enforce"


class MailRelay(enum.StrEnum):
    SES = "ses"
    """Amazon SES over SMTP on port 587 (SES signs with Easy DKIM)."""
    SMTP = "smtp"
    """Any other SMTP relay on a submission port."""
    SINK = "sink"
    """A local SMTP sink that catches everything (local stack only)."""


class AppPreset(enum.StrEnum):
    LISTMONK = "listmonk"
    MAILWIZZ = "mailwizz"
    TRANSACTIONAL_API = "transactional-api"
    WEB_API = "web-api"
    CUSTOM = "custom"


# --- sections -----------------------------------------------------------------


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


class ServicesSection(Section):
    redis: bool = key("redis", False, "Run Redis (append-only, memory capped) for the app.")
    minio: bool = key("minio", False, "Run MinIO object storage for the app.")
    minio_buckets: list[DnsLabel] = key(
        "minioBuckets", ["uploads"], "Buckets the MinIO setup job creates."
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
    alert_webhook_url: HttpsUrl = key(
        "alertWebhookUrl",
        "",
        "Also post alerts to this Slack-format webhook (Slack, Mattermost, or Discord's "
        "webhook URL + `/slack`); optional. A secret: whoever has it can post to the channel.",
        secret=True,
        example="https://hooks.slack.com/services/T000/B000/XXXX",
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


@dataclass(frozen=True)
class KeySpec:
    """One Pulumi config key and where it lives in the model."""

    section: str
    field: str
    alias: str
    info: FieldInfo

    @property
    def is_list(self) -> bool:
        return get_origin(_unwrap(self.info.annotation)) is list

    @property
    def secret(self) -> bool:
        return bool(self._extra.get("secret"))

    @property
    def example(self) -> str:
        return str(self._extra.get("example", ""))

    @property
    def _extra(self) -> JsonDict:
        extra = self.info.json_schema_extra
        return extra if isinstance(extra, dict) else {}


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def key_specs() -> list[KeySpec]:
    """Every config key, in documentation order."""
    return [
        KeySpec(section, name, str(info.alias), info)
        for section, model in SECTIONS.items()
        for name, info in model.model_fields.items()
    ]


# --- secrets ----------------------------------------------------------------------


class Secrets:
    """Secret config values, only ever as Pulumi secret Outputs."""

    def __init__(self, present: Mapping[str, bool]) -> None:
        self._present = dict(present)
        self._config = pulumi.Config(PROJECT)

    def has(self, alias: str) -> bool:
        return self._present.get(alias, False)

    def get(self, alias: str) -> pulumi.Output[str]:
        """The secret as an Output; raises if the key is unset (validation prevents it)."""
        return self._config.require_secret(alias)


# --- the model ------------------------------------------------------------------


class StackConfig(BaseModel):
    """The validated configuration of one stack."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    stack: StackSection
    domain: DomainSection
    server: ServerSection
    admin: AdminSection
    dns: DnsSection
    mail: MailSection
    app: AppSection
    services: ServicesSection
    backup: BackupSection
    secrets: Secrets = Field(exclude=True)

    @property
    def is_prod(self) -> bool:
        return self.stack.environment is Environment.PROD

    @property
    def is_local(self) -> bool:
        return self.stack.target is Target.LOCAL

    @property
    def uses_dns(self) -> bool:
        return not self.is_local and self.dns.provider is DnsProvider.CLOUDFLARE

    @property
    def dmarc_rua(self) -> str:
        return self.dns.dmarc_rua or f"dmarc@{self.domain.domain}"

    @property
    def from_address(self) -> str:
        return self.mail.from_address or f"noreply@{self.domain.domain}"

    @property
    def ses_signs_dkim(self) -> bool:
        """SES Easy DKIM signs; otherwise mailstack's own key does."""
        if self.dns.dkim_signer is DkimSigner.AUTO:
            return self.mail.relay is MailRelay.SES and bool(self.dns.ses_dkim_tokens)
        return self.dns.dkim_signer is DkimSigner.SES

    @property
    def ses_mail_from(self) -> str:
        return f"{self.mail.ses_mail_from_subdomain}.{self.domain.domain}"


# --- errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    namespace: str = PROJECT

    def __str__(self) -> str:
        return f"{self.namespace}:{self.key}: {self.message}"


class ConfigError(Exception):
    """Every problem with a stack's config, found before any resource is made."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.key, p.message))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


# --- loading ----------------------------------------------------------------------


def _pulumi_path(spec: KeySpec, loc: tuple[int | str, ...]) -> str:
    """`serverLabels[1]` style path for an error inside a list value."""
    path = spec.alias
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(err: Mapping[str, Any], spec: KeySpec) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return f"got {err['input']!r}; expected one of {expected}"
    if kind == "string_pattern_mismatch":
        example = f"expected e.g. {spec.example!r}, " if spec.example else ""
        return f"got {err['input']!r}; {example}matching {err['ctx']['pattern']}"
    if kind == "missing":
        example = f", e.g. `pulumi config set {spec.alias} {spec.example}`" if spec.example else ""
        return f"is required but not set{example}"
    return msg


def _parse_raw(spec: KeySpec, raw: Any) -> tuple[Any, Problem | None]:
    """Pulumi hands the program strings; arrays arrive as JSON text."""
    if spec.is_list and isinstance(raw, str):
        try:
            return json.loads(raw), None
        except json.JSONDecodeError:
            return None, Problem(spec.alias, f"expected a YAML/JSON array, got {raw!r}")
    return raw, None


def _check_secret(spec: KeySpec, full_key: str, raw: Any) -> Problem | None:
    """A secret's value against its type, with a message that never shows it.

    Synth's stand-in (`<secret:KEY>`, mailstack.harness) is not checked.
    """
    if raw in (None, "") or raw == f"<secret:{full_key}>" or not spec.info.metadata:
        return None
    try:
        TypeAdapter(Annotated[(spec.info.annotation, *spec.info.metadata)]).validate_python(raw)
    except ValidationError:
        example = f"; expected e.g. {spec.example!r}" if spec.example else ""
        return Problem(spec.alias, f"is malformed (the value is a secret, so not shown){example}")
    return None


def validate(
    raw_config: Mapping[str, Any],
    secret_keys: set[str] | frozenset[str] = frozenset(),
    stack: str | None = None,
) -> StackConfig:
    """Validate raw `mailstack:*` config values; raise ConfigError with every problem.

    `stack` is the Pulumi stack's name, checked against `environment`.
    """
    specs = {spec.alias: spec for spec in key_specs()}
    problems: list[Problem] = []
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    present: dict[str, bool] = {}
    refused: set[str] = set()  # keys whose value was refused

    for full_key, raw in sorted(raw_config.items()):
        namespace, _, name = full_key.partition(":")
        if namespace != PROJECT:
            # Other namespaces belong to providers (`hcloud:token`); one that is
            # a near-miss of ours is a typo whose value would be silently ignored.
            if difflib.get_close_matches(namespace, [PROJECT], n=1, cutoff=0.75):
                problems.append(
                    Problem(name, f"unknown namespace; did you mean '{PROJECT}:{name}'?", namespace)
                )
            continue
        spec = specs.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, specs, n=1)
            hint = f"; did you mean '{PROJECT}:{close[0]}'?" if close else ""
            problems.append(Problem(name, f"unknown config key{hint}"))
            continue
        if spec.secret:
            # An empty plain value holds nothing to hide (a throwaway clears
            # dev's heartbeat URL so).
            if full_key not in secret_keys and raw not in (None, ""):
                problems.append(
                    Problem(
                        name,
                        "is a secret: set it with `pulumi config set "
                        f"--secret {name} ...`, not as plain text",
                    )
                )
            elif problem := _check_secret(spec, full_key, raw):
                problems.append(problem)
            present[name] = raw not in (None, "")
            continue
        value, problem = _parse_raw(spec, raw)
        if problem:
            problems.append(problem)
            refused.add(name)
            continue
        sections[spec.section][name] = value

    parsed: dict[str, Section] = {}
    for section, model in SECTIONS.items():
        if section == "secrets":
            continue
        try:
            parsed[section] = model.model_validate(sections[section])
        except ValidationError as err:
            for e in err.errors():
                alias = str(e["loc"][0])
                spec = specs[alias]
                problems.append(Problem(_pulumi_path(spec, tuple(e["loc"][1:])), _message(e, spec)))
                refused.add(alias)
            # Validate the rest of the section again, with defaults for the
            # refused keys, so the cross-field rules can still report in this
            # same error instead of one fix-and-retry later.
            rest = {k: v for k, v in sections[section].items() if k not in refused}
            with contextlib.suppress(ValidationError):
                parsed[section] = model.model_validate(rest)

    # Every other rule depends on these two: with a default in place of a
    # refused one, the rules would report problems the user does not have.
    if len(parsed) == len(SECTIONS) - 1 and not refused & {"environment", "target"}:
        config = StackConfig(secrets=Secrets(present), **parsed)
        found = [p for rule in RULES for p in rule(config)]
        if stack is not None:
            found += _stack_name_matches_environment(stack, config)
        problems += [p for p in found if re.split(r"[\[.]", p.key)[0] not in refused]
    if problems:
        raise ConfigError(problems)
    return config


def load_config() -> StackConfig:
    """Read and validate this stack's Pulumi config (the program's entry point)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env()) | set(
        runtime_config._SECRET_KEYS.get()
    )
    config = validate(raw, secret, stack=pulumi.get_stack())
    for problem in advice(config):
        pulumi.log.warn(str(problem))
    return config


# --- cross-field rules ------------------------------------------------------------

Rule = Callable[[StackConfig], list[Problem]]


def _stack_name_matches_environment(stack: str, c: StackConfig) -> list[Problem]:
    """The stack named `prod` is the prod environment, and no other stack is.

    Protection, the SSH rule and required backups follow `environment`; the
    policy pack and the throwaway reaper recognise prod by the stack's name. A
    `prod` stack with `environment: dev` would silently drop the first, and an
    `environment: prod` stack under another name would escape the second.
    """
    if (stack == "prod") == c.is_prod:
        return []
    return [
        Problem(
            "environment",
            f"stack {stack!r} has environment {c.stack.environment.value!r}: the stack "
            "named 'prod' must have `environment: prod`, and only it may",
        )
    ]


def _target_matches_environment(c: StackConfig) -> list[Problem]:
    local_env = c.stack.environment is Environment.LOCAL
    if local_env != c.is_local:
        return [
            Problem(
                "target",
                "`local` target goes with the `local` environment and only "
                f"with it (environment is {c.stack.environment.value!r})",
            )
        ]
    return []


def _vpn_range(cidr: str) -> bool:
    """RFC 1918 / CGNAT for IPv4, unique local for IPv6: what a VPN hands out.

    Not `is_private`, which also counts `::ffff:0:0/96` (all of IPv4).
    """
    net = ipaddress.ip_network(cidr)
    vpn = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
    return any(
        net.version == block.version and net.subnet_of(block)  # type: ignore[arg-type]
        for block in map(ipaddress.ip_network, vpn)
    )


def _no_world_ssh_in_prod(c: StackConfig) -> list[Problem]:
    if not c.is_prod:
        return []
    limit = (
        f"at most /{MIN_SSH_PREFIX[4]} for IPv4 and /{MIN_SSH_PREFIX[6]} for IPv6 "
        "(e.g. '198.51.100.7/32')"
    )
    return [
        Problem(
            f"adminCidrs[{i}]",
            f"{cidr!r} is wider than prod allows for SSH; list the VPN's own subnets, {limit}"
            if _vpn_range(cidr)
            else f"{cidr!r} opens SSH to a large part of the internet, and prod must not; "
            f"use your office/VPN blocks, {limit}",
        )
        for i, cidr in enumerate(c.admin.cidrs)
        if too_broad_for_ssh(cidr)
    ]


def _server_reachable(c: StackConfig) -> list[Problem]:
    if c.is_local:
        return []
    problems = []
    if not c.admin.ssh_public_keys:
        problems.append(
            Problem(
                "sshPublicKeys",
                "a `hetzner` target needs at least one admin SSH public key, or nobody can log in",
            )
        )
    first_seen: dict[tuple[str, ...], int] = {}
    for i, line in enumerate(c.admin.ssh_public_keys):
        # Type and key body; the comment does not make it another key.
        seen = first_seen.setdefault(tuple(line.split()[:2]), i)
        if seen != i:
            problems.append(
                Problem(
                    f"sshPublicKeys[{i}]",
                    f"the same key as sshPublicKeys[{seen}]; list each key once",
                )
            )
    if not c.admin.cidrs:
        # Even with Tailscale: the first boot is awaited and the tailnet joined
        # over SSH from wherever `pulumi up` runs, before the host is on the tailnet.
        problems.append(
            Problem(
                "adminCidrs",
                "a `hetzner` target needs the CIDR blocks `pulumi up` and your admins "
                "connect from (e.g. '198.51.100.7/32'), so SSH is reachable by you and "
                "nobody else; with `tailscale: true` too, since the tailnet is joined over SSH",
            )
        )
    return problems


def _firewall_ports(c: StackConfig) -> list[Problem]:
    return [
        Problem(
            f"firewallExtraTcpPorts[{i}]",
            "port 22 (SSH) is opened to `adminCidrs` only, never as an extra public port",
        )
        for i, port in enumerate(c.admin.extra_tcp_ports)
        if port == 22
    ]


def _zone_needed(c: StackConfig) -> list[Problem]:
    if c.uses_dns and not c.dns.zone_id:
        return [
            Problem(
                "cloudflareZoneId",
                "a `hetzner` target with `dnsProvider: cloudflare` "
                "needs the zone id (or set `dnsProvider: none`)",
            )
        ]
    return []


def _mail_relay(c: StackConfig) -> list[Problem]:
    relay = c.mail.relay
    if c.is_local:
        if relay is not MailRelay.SINK:
            return [
                Problem(
                    "mailRelay",
                    "the `local` stack sends only to the local mail sink: set `mailRelay: sink`",
                )
            ]
        return []
    problems = []
    if relay is MailRelay.SINK:
        problems.append(
            Problem("mailRelay", "`sink` catches mail locally; a server needs `ses` or `smtp`")
        )
    if relay is MailRelay.SMTP and not c.mail.smtp_host:
        problems.append(Problem("smtpHost", "`mailRelay: smtp` needs the relay host"))
    if c.mail.smtp_port in (25, 465):
        problems.append(Problem("smtpPort", "Hetzner blocks outbound 25 and 465; use 587"))
    if relay is not MailRelay.SINK:
        if not c.mail.smtp_username:
            problems.append(
                Problem("smtpUsername", f"`mailRelay: {relay.value}` needs the SMTP user name")
            )
        if not c.secrets.has("smtpPassword"):
            problems.append(
                Problem(
                    "smtpPassword",
                    "missing required secret: `pulumi config set --secret smtpPassword ...`",
                )
            )
    return problems


def _backups(c: StackConfig) -> list[Problem]:
    if c.is_local and c.backup.enabled:
        return [
            Problem(
                "backupEnabled",
                "backups run on servers; the `local` stack has none: set `backupEnabled: false`",
            )
        ]
    if c.is_local or not c.backup.enabled:
        if c.is_prod and not c.backup.enabled:
            return [Problem("backupEnabled", "prod must keep backups on")]
        return []
    problems = []
    if c.is_prod and not c.backup.schedule:
        problems.append(Problem("backupSchedule", "prod must back up on a schedule"))
    if not c.backup.repository:
        problems.append(
            Problem(
                "backupRepository",
                "backups need a restic repository, e.g. "
                "'s3:https://fsn1.your-objectstorage.com/bucket/mailstack'",
            )
        )
    elif c.backup.repository.startswith("b2:"):
        # The job only writes S3 credentials (AWS_*); restic's docs recommend
        # B2's S3-compatible API over its native b2 backend anyway.
        problems.append(
            Problem(
                "backupRepository",
                "b2: repositories are not supported; use Backblaze B2's S3-compatible "
                "endpoint, e.g. 's3:https://s3.us-west-004.backblazeb2.com/bucket/mailstack', "
                "with an application key as backupS3AccessKeyId/backupS3SecretAccessKey",
            )
        )
    elif not re.match(r"^(s3:https?://\S+|sftp:\S+|rest:https?://\S+|/\S+)$", c.backup.repository):
        problems.append(
            Problem(
                "backupRepository",
                f"{c.backup.repository!r} is not a restic "
                "repository; expected 's3:https://host/bucket/path'",
            )
        )
    if not c.secrets.has("backupPassword"):
        problems.append(
            Problem(
                "backupPassword",
                "missing required secret: `pulumi config set --secret backupPassword ...`",
            )
        )
    if c.backup.repository.startswith("s3:"):
        if not c.backup.s3_access_key_id:
            problems.append(
                Problem("backupS3AccessKeyId", "an s3 backup target needs the access key id")
            )
        if not c.secrets.has("backupS3SecretAccessKey"):
            problems.append(
                Problem(
                    "backupS3SecretAccessKey", "missing required secret for the s3 backup target"
                )
            )
    if c.backup.keep_daily + c.backup.keep_weekly + c.backup.keep_monthly == 0:
        problems.append(Problem("backupKeepDaily", "retention keeps no snapshot at all"))
    return problems


def _tailscale(c: StackConfig) -> list[Problem]:
    if c.admin.tailscale and not c.secrets.has("tailscaleAuthKey"):
        return [Problem("tailscaleAuthKey", "`tailscale: true` needs the auth key secret")]
    return []


def _pinned(key: str, image: str) -> list[Problem]:
    ref = image.split("@", 1)[0]
    if image and (":" not in ref.rsplit("/", 1)[-1] or ref.endswith(":latest")):
        return [
            Problem(
                key,
                f"{image!r} must pin a tag (not 'latest'), e.g. 'app:1.2.3' "
                "or 'app:1.2.3@sha256:...'",
            )
        ]
    return []


def _app(c: StackConfig) -> list[Problem]:
    preset = c.app.preset
    needs_image = (AppPreset.CUSTOM, AppPreset.TRANSACTIONAL_API, AppPreset.WEB_API)
    problems = _pinned("appImage", c.app.image) + _pinned("appWebImage", c.app.web_image)
    if preset in needs_image and not c.app.image:
        problems.append(
            Problem(
                "appImage", f"`app: {preset.value}` needs an image, e.g. 'ghcr.io/you/app:1.2.3'"
            )
        )
    if preset is AppPreset.WEB_API and not c.app.web_image:
        problems.append(Problem("appWebImage", "`app: web-api` needs the web front end's image"))
    if c.is_local and c.services.local_http_port == c.services.local_mail_ui_port:
        problems.append(
            Problem("localMailUiPort", "must differ from `localHttpPort` (both are published)")
        )
    return problems


def _dns(c: StackConfig) -> list[Problem]:
    problems = []
    if c.dns.mta_sts and not c.dns.receives_mail:
        problems.append(
            Problem("mtaSts", "MTA-STS protects inbound mail: needs `receivesMail: true`")
        )
    if c.is_prod and c.dns.spf_all is not SpfAll.FAIL and c.dns.dmarc_policy is DmarcPolicy.REJECT:
        problems.append(Problem("spfAll", "with `dmarcPolicy: reject` use `-all`"))
    if c.dns.tls_rpt and not c.dns.receives_mail:
        problems.append(
            Problem("tlsRptEmail", "TLS-RPT reports on inbound mail: needs `receivesMail: true`")
        )
    return problems


def _duplicates(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


def _spf(c: StackConfig) -> list[Problem]:
    problems = []
    if dup := _duplicates(c.dns.spf_includes):
        problems.append(Problem("spfIncludes", f"listed twice: {', '.join(dup)}"))
    # The root record holds the includes plus ip4/ip6 terms, which cost no lookup.
    lookups = spf_lookup_count(" ".join(["v=spf1", *(f"include:{d}" for d in c.dns.spf_includes)]))
    if lookups > SPF_MAX_LOOKUPS:
        problems.append(
            Problem(
                "spfIncludes",
                f"{lookups} includes need {lookups} DNS lookups, more than SPF's limit of "
                f"{SPF_MAX_LOOKUPS} (RFC 7208 §4.6.4), and each included record's own lookups "
                "count too; receivers would return permerror. Drop senders, or ask them for "
                "ip4/ip6 ranges",
            )
        )
    return problems


def _dkim(c: StackConfig) -> list[Problem]:
    problems = []
    if dup := _duplicates(c.dns.dkim_selectors):
        problems.append(Problem("dkimSelectors", f"listed twice: {', '.join(dup)}"))
    tokens = c.dns.ses_dkim_tokens
    if tokens and len(tokens) != 3:
        problems.append(
            Problem("sesDkimTokens", f"SES Easy DKIM gives exactly 3 tokens, got {len(tokens)}")
        )
    if tokens and c.mail.relay is not MailRelay.SES:
        problems.append(Problem("sesDkimTokens", "SES DKIM tokens need `mailRelay: ses`"))
    if c.dns.dkim_signer is DkimSigner.SES:
        if c.mail.relay is not MailRelay.SES:
            problems.append(Problem("dkimSigner", "`ses` signs only mail sent through SES"))
        if not tokens:
            problems.append(
                Problem("sesDkimTokens", "`dkimSigner: ses` needs the 3 Easy DKIM tokens")
            )
    return problems


def _host_labels(c: StackConfig) -> list[tuple[str, str]]:
    """(key, label) of every host mailstack names under the domain.

    The app and mail hosts come first, so a clash is reported on the feature
    that adds the second name.
    """
    d = c.domain
    labels = [("appSubdomain", d.app_subdomain), ("mailSubdomain", d.mail_subdomain)]
    if d.www_redirect:
        labels.append(("wwwRedirect", "www"))
    if c.dns.receives_mail and c.dns.mta_sts:
        labels.append(("mtaSts", "mta-sts"))
    if c.mail.relay is MailRelay.SES:
        labels.append(("sesMailFromSubdomain", c.mail.ses_mail_from_subdomain))
    return labels


def _dns_names(c: StackConfig) -> list[Problem]:
    """Names that would collide: two roles on one name, or a CNAME beside other records.

    Cloudflare refuses a CNAME next to any other record, and the app (maybe
    proxied) must not share the mail host's name (never proxied).
    """
    d = c.domain
    problems = []
    owner: dict[str, str] = {}
    for key_name, label in _host_labels(c):
        if label in owner:
            problems.append(
                Problem(
                    key_name,
                    f"`{label}.{d.domain}` is already used by `{owner[label]}`; "
                    "each host needs its own name",
                )
            )
        else:
            owner[label] = key_name
    reserved = {d.domain, d.mail_host, f"mta-sts.{d.domain}"}
    if d.www_redirect:
        reserved.add(f"www.{d.domain}")  # a CNAME: no MX or TXT may sit beside it
    if c.mail.relay is MailRelay.SES:
        reserved.add(c.ses_mail_from)
    if dup := _duplicates(c.dns.null_mx_names):
        problems.append(Problem("nullMxNames", f"listed twice: {', '.join(dup)}"))
    seen_keys: dict[str, str] = {}
    for i, name in enumerate(c.dns.null_mx_names):
        record_key = null_mx_label(name, d.domain)
        if not name.endswith(f".{d.domain}"):
            problems.append(
                Problem(f"nullMxNames[{i}]", f"{name!r} is not a subdomain of {d.domain!r}")
            )
        elif name in reserved:
            problems.append(
                Problem(
                    f"nullMxNames[{i}]",
                    f"{name!r} sends or receives mail, serves MTA-STS or is the www alias",
                )
            )
        elif record_key in seen_keys and seen_keys[record_key] != name:
            problems.append(
                Problem(
                    f"nullMxNames[{i}]",
                    f"{name!r} and {seen_keys[record_key]!r} would get the same record name "
                    f"(null-mx-{record_key}); keep one of them",
                )
            )
        seen_keys.setdefault(record_key, name)
    return problems


def _throwaway_marks(c: StackConfig) -> list[Problem]:
    """Only throwaway stacks expire, and their labels are how the reaper finds them.

    prod must never carry an expiry or a throwaway label (the reaper deletes by
    label); a stack labelled throwaway must expire on the date its label says.
    """
    if c.is_prod:
        problems = [
            Problem(f"serverLabels[{i}]", f"{item!r}: prod must not carry a throwaway label")
            for i, item in enumerate(c.server.labels)
            if item.partition("=")[0] in throwaway.THROWAWAY_ONLY_LABELS
        ]
        if c.stack.expires_at:
            problems.append(Problem("expiresAt", "prod never expires: remove `expiresAt`"))
        return problems
    labels = throwaway.parse_labels(c.server.labels)
    if labels.get(throwaway.KIND_LABEL) != throwaway.THROWAWAY:
        return []
    expires = labels.get(throwaway.EXPIRES_LABEL, "")
    if not c.stack.expires_at or expires != c.stack.expires_at:
        return [
            Problem(
                "expiresAt",
                f"a stack labelled {throwaway.KIND_LABEL}={throwaway.THROWAWAY} must set "
                f"`expiresAt` to its {throwaway.EXPIRES_LABEL} label ({expires or 'missing'})",
            )
        ]
    return []


RULES: list[Rule] = [
    _target_matches_environment,
    _no_world_ssh_in_prod,
    _server_reachable,
    _firewall_ports,
    _zone_needed,
    _mail_relay,
    _backups,
    _tailscale,
    _app,
    _dns,
    _throwaway_marks,
    _spf,
    _dkim,
    _dns_names,
]


# --- advice: valid, but probably not what was meant (warnings, not errors) ----

# Presets that talk to Redis or MinIO when the config turns it on (mailwizz and
# web-api run Redis, web-api MinIO, whatever the config says).
USES_REDIS = {AppPreset.MAILWIZZ, AppPreset.WEB_API, AppPreset.TRANSACTIONAL_API, AppPreset.CUSTOM}
USES_MINIO = {AppPreset.WEB_API, AppPreset.TRANSACTIONAL_API, AppPreset.CUSTOM}
# Presets whose own admin UI the proxy limits to `adminCidrs`.
PRESET_ADMIN_PATHS = {AppPreset.LISTMONK, AppPreset.MAILWIZZ}


def _unused_services(c: StackConfig) -> list[Problem]:
    """Redis or MinIO that the preset never connects to: memory for nothing."""
    preset = c.app.preset.value
    return [
        Problem(name, f"the {preset} preset never uses it; it would run for nothing")
        for name, on, users in (
            ("redis", c.services.redis, USES_REDIS),
            ("minio", c.services.minio, USES_MINIO),
        )
        if on and c.app.preset not in users
    ]


def _admin_paths_behind_cloudflare(c: StackConfig) -> list[Problem]:
    """Behind Cloudflare's proxy the proxy sees Cloudflare's edge as every client.

    The admin check matches the connection's address (`remote_ip`), which is
    then a Cloudflare address for everyone: admin paths answer 403 to all (it
    fails closed). Only the tailnet, which bypasses Cloudflare, still reaches them.
    """
    has_admin_paths = (
        c.app.preset in PRESET_ADMIN_PATHS or bool(c.app.admin_paths) or c.services.monitoring
    )
    if c.is_local or not c.dns.proxy_web or not has_admin_paths:
        return []
    return [
        Problem(
            "proxyWeb",
            "the app host is proxied through Cloudflare, so the proxy sees Cloudflare's "
            "addresses, never the client's: admin paths (the app's admin UI, appAdminPaths, "
            "/metrics) answer 403 to everyone outside the tailnet",
        )
    ]


ADVICE: list[Rule] = [_unused_services, _admin_paths_behind_cloudflare]


def advice(c: StackConfig) -> list[Problem]:
    """What a valid config probably did not mean; `load_config` logs each as a warning."""
    return [p for rule in ADVICE for p in rule(c)]
