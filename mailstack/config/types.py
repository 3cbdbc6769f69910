"""Value types of config keys: each a str checked with a full match, with an example.

A value that passes here still reaches its consumer encoded for its context
(shell, YAML, Caddyfile, ...); these checks refuse what the consumer cannot take.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import subprocess
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, Field

from common.pricing import PRICES, overridable, parse_override
from common.topology import Role

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})+")
_LABEL_RE = re.compile(_LABEL)
_EMAIL_RE = re.compile(rf"[A-Za-z0-9._%+-]+@{_HOSTNAME_RE.pattern}")
# systemd OnCalendar is checked for real by systemd-analyze in the artifact
# tests; here only characters that could break a unit file are refused.
_CALENDAR_RE = re.compile(r"[A-Za-z0-9*:/.,~ -]+")


def full_match(pattern: re.Pattern[str], expected: str, optional: bool = False) -> AfterValidator:
    """The check of a value that must match `pattern` whole ('' too, when
    `optional`); the error reads "'<value>' is not <expected>"."""

    def check(value: str) -> str:
        if (value or not optional) and not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {expected}")
        return value

    return AfterValidator(check)


def _domain(value: str) -> str:
    value = value.strip(" ").lower().rstrip(".")
    if not _HOSTNAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a domain name; expected e.g. 'example.com'")
    return value


# Names that only carry TXT data, like SPF's `_spf.google.com`, may hold underscores.
_TXT_NAME_RE = re.compile(r"(?=.{1,253}\Z)((?!-)[a-z0-9_-]{1,63}(?<!-)\.)+[a-z]{2,63}")


def _spf_domain(value: str) -> str:
    value = value.strip(" ").lower().rstrip(".")
    if not _TXT_NAME_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a domain name; expected the SPF domain a sender documents, "
            "e.g. '_spf.google.com' (without 'include:')"
        )
    return value


_A_LABEL = "a DNS label; expected lowercase letters, digits and inner hyphens, e.g. 'app'"
_AN_EMAIL = "an email address; expected e.g. 'ops@example.com'"


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as err:
        raise ValueError(
            f"{value!r} is not a CIDR block ({err}); expected e.g. '198.51.100.7/32'"
        ) from None


SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
"""Every public key type OpenSSH 9 accepts in authorized_keys by default (its
PubkeyAcceptedAlgorithms; ssh-dss was dropped in 9.8). Certificates are not keys."""
MIN_RSA_BITS = 2048


def _ssh_public_key(value: str) -> str:
    """One OpenSSH public key line, `<type> <base64 blob> [comment]`, parsed for real.

    `cryptography` decodes the blob (security-key types included), checks that
    the type inside the blob is the one the line names, and that the key is a
    valid point or modulus.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    example = "expected one line such as 'ssh-ed25519 AAAA... you@laptop'"
    value = value.strip()
    parts = value.split(maxsplit=2)
    if len(parts) < 2 or "\n" in value:
        raise ValueError(f"not an OpenSSH public key; {example}")
    if parts[0] not in SSH_KEY_TYPES:
        raise ValueError(
            f"key type {parts[0][:40]!r} is not one OpenSSH accepts; use one of "
            f"{', '.join(SSH_KEY_TYPES)} ({example})"
        )
    try:
        key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, UnsupportedAlgorithm) as err:
        raise ValueError(
            f"not a valid {parts[0]} public key ({err}); copy the whole line of your .pub file"
        ) from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValueError(
            f"a {key.key_size}-bit RSA key is too weak; use at least {MIN_RSA_BITS} bits "
            "or an ssh-ed25519 key"
        )
    return value


def _https_url(value: str) -> str:
    if value and not re.fullmatch(r"https://[^\s/@]+(/\S*)?", value):
        # Never shown: it is a secret (the heartbeat URL), and may hold a password.
        raise ValueError("is not an https:// URL without user name or password")
    return value


_REGISTRY_RE = re.compile(
    r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
)


def _calendar(value: str) -> str:
    if not _CALENDAR_RE.fullmatch(value) or not _systemd_accepts_calendar(value):
        raise ValueError(
            f"{value!r} is not a systemd calendar expression; expected e.g. '*-*-* 03:15:00'"
        )
    return value


def _systemd_accepts_calendar(value: str) -> bool:
    """What `systemd-analyze calendar` says, where it is installed (Linux with
    systemd); elsewhere only the character check above applies, and the
    artifact tests run `systemd-analyze verify` on the rendered timers."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return True
    return _run_calendar(tool, value)


@cache
def _run_calendar(tool: str, value: str) -> bool:
    done = subprocess.run(
        [tool, "calendar", "--", value], capture_output=True, timeout=10, check=False
    )
    return done.returncode == 0


def _optional_calendar(value: str) -> str:
    return _calendar(value) if value else value


def _hetzner_label(value: str) -> str:
    # Hetzner label rules: key (optional prefix/) name up to 63 chars, value up to 63.
    key, sep, val = value.partition("=")
    name_re = r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
    prefix, _, name = key.rpartition("/")
    ok = bool(sep) and re.fullmatch(name_re, name) is not None
    ok = ok and (not prefix or _HOSTNAME_RE.fullmatch(prefix) is not None)
    ok = ok and (val == "" or re.fullmatch(name_re, val) is not None)
    if not ok:
        raise ValueError(
            f"{value!r} is not a Hetzner label; expected 'key=value' with letters, digits, "
            "'-', '_' or '.', at most 63 characters each, starting and ending alphanumeric"
        )
    return value


Domain = Annotated[str, AfterValidator(_domain)]
SpfDomain = Annotated[str, AfterValidator(_spf_domain)]
DnsLabel = Annotated[str, full_match(_LABEL_RE, _A_LABEL)]
Email = Annotated[str, full_match(_EMAIL_RE, _AN_EMAIL)]
OptionalEmail = Annotated[str, full_match(_EMAIL_RE, _AN_EMAIL, optional=True)]
Cidr = Annotated[str, AfterValidator(_cidr)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Calendar = Annotated[str, AfterValidator(_calendar)]
OptionalCalendar = Annotated[str, AfterValidator(_optional_calendar)]
HetznerLabel = Annotated[str, AfterValidator(_hetzner_label)]
Port = Annotated[int, Field(ge=1, le=65535)]


# --- hostile-value types (issue 13) -----------------------------------------------

# Debian's and Ubuntu's base-passwd (users and groups below uid/gid 1000, this
# Debian 12's /usr/share/base-passwd/{passwd,group}.master), the system users
# the images and the packages mailstack installs create (Ubuntu 24.04's cloud
# image, openssh, dbus, systemd, chrony, Docker), and common service users a
# later package could create. A group name is refused too: cloud-init's
# useradd fails when a group of the user's name already exists.
SYSTEM_ACCOUNTS = frozenset(
    [
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "nogroup",
        "_apt",
        "adm",
        "tty",
        "disk",
        "kmem",
        "dialout",
        "fax",
        "voice",
        "cdrom",
        "floppy",
        "tape",
        "sudo",
        "audio",
        "dip",
        "operator",
        "src",
        "shadow",
        "utmp",
        "video",
        "sasl",
        "plugdev",
        "staff",
        "users",
        "input",
        "sgx",
        "kvm",
        "render",
        "netdev",
        "lxd",
        "docker",
        "admin",
        "sshd",
        "messagebus",
        "syslog",
        "uuidd",
        "tcpdump",
        "tss",
        "landscape",
        "pollinate",
        "polkitd",
        "dnsmasq",
        "usbmux",
        "fwupd-refresh",
        "ntp",
        "chrony",
        "postfix",
        "postgres",
        "mysql",
        "redis",
        "caddy",
        "prometheus",
        "node-exporter",
        "tailscale",
        "fail2ban",
        "ubuntu",
        "debian",
    ]
)
"""User names `adminUser` refuses (besides `systemd-*` and `_*`)."""


def _admin_user(value: str) -> str:
    if value in SYSTEM_ACCOUNTS or value.startswith(("systemd-", "_")):
        raise ValueError(
            f"{value!r} is a system account or group on Debian/Ubuntu; the admin user must "
            "be a new, ordinary user, e.g. 'mailadmin'"
        )
    return value


def _one_ssh_key(value: str) -> str:
    """One key per entry: authorized_keys reads a line per key, so a second key
    (on another line, or after the first on this one) would be trusted unchecked."""
    others = [p for p in value.split()[2:] if p in SSH_KEY_TYPES]
    if others:
        raise ValueError(f"holds more than one key ({others[0]!r} again): one key per entry")
    return value


# A Caddy path matcher: an absolute path, `*` as the wildcard; percent-encoded
# bytes and the URL's sub-delimiters, nothing Caddy would read as a token
# boundary, a placeholder (`{...}`) or another line.
_CADDY_PATH_RE = re.compile(r"/[A-Za-z0-9._~%*/+,;=:@!-]*")


def _caddy_path(value: str) -> str:
    if not _CADDY_PATH_RE.fullmatch(value):
        hint = f"; did you mean '/{value}'?" if _CADDY_PATH_RE.fullmatch(f"/{value}") else ""
        raise ValueError(
            f"{value!r} is not a Caddy path matcher: it must start with '/' and hold only "
            f"URL path characters and '*', e.g. '/admin/*'{hint}"
        )
    return value


# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_RE = re.compile(
    rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


def _optional_domain(value: str) -> str:
    return _domain(value) if value else value


def _iso_date(value: str) -> str:
    """A real calendar date (`2026-02-30` is not), written YYYY-MM-DD."""
    if value:
        try:
            ok = datetime.date.fromisoformat(value).isoformat() == value
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD); expected e.g. '2026-12-31'")
    return value


def _check_subset(value: str) -> str:
    """restic's `--read-data-subset`: `n%` with 0 < n <= 100, or `n/t` with 1 <= n <= t."""
    percent = re.fullmatch(r"(100|[0-9]{1,2}(?:\.[0-9]+)?)%", value)
    part = re.fullmatch(r"([1-9][0-9]{0,5})/([1-9][0-9]{0,5})", value)
    ok = (percent and 0 < float(percent[1]) <= 100) or (part and int(part[1]) <= int(part[2]))
    if not ok:
        raise ValueError(
            f"{value!r} is not a share restic checks: 'n%' with 0 < n <= 100 or 'n/t' with "
            "1 <= n <= t, e.g. '5%'"
        )
    return value


def _no_url_credentials(value: str) -> str:
    """restic repositories: a password belongs in a secret, never in the URL."""
    if re.search(r"^(?:[a-z0-9]+:)?[a-z]+://[^/@]*@", value):
        raise ValueError(
            "holds a user name or password in its URL, which would sit in plain text in "
            "state, outputs and backup.conf; credentials belong in secrets: use an s3: "
            "repository (its key in the secret backupS3SecretAccessKey) or sftp:, or a "
            "rest: server without credentials in the URL"
        )
    return value


def _printable(value: str) -> str:
    """Free text written into files: no control characters, no line separators."""
    if re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", value):
        raise ValueError("holds a control character or line break")
    return value


def _secret_text(value: str) -> str:
    """Any text a file or environment variable can hold: everything but NUL."""
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    return value


def _restic_password(value: str) -> str:
    """restic trims whitespace around the password it reads from its file."""
    if value != value.strip():
        raise ValueError("begins or ends with whitespace, which restic drops")
    return _secret_text(value)


AdminUser = Annotated[str, AfterValidator(_admin_user)]
SshPublicKey = Annotated[str, AfterValidator(_ssh_public_key), AfterValidator(_one_ssh_key)]
CaddyPath = Annotated[str, AfterValidator(_caddy_path)]
OptionalImage = Annotated[
    str,
    full_match(
        _IMAGE_RE,
        "a container image reference; expected e.g. 'ghcr.io/you/app:1.2.3' or "
        "'app:1.2.3@sha256:<64 hex>'",
        optional=True,
    ),
]
OptionalDomain = Annotated[str, AfterValidator(_optional_domain)]
OptionalDnsLabel = Annotated[str, full_match(_LABEL_RE, _A_LABEL, optional=True)]
IsoDate = Annotated[str, AfterValidator(_iso_date)]
CheckSubset = Annotated[str, AfterValidator(_check_subset)]
ResticRepository = Annotated[str, AfterValidator(_no_url_credentials)]
Printable = Annotated[str, AfterValidator(_printable)]
SecretText = Annotated[str, AfterValidator(_secret_text)]
ResticPassword = Annotated[str, AfterValidator(_restic_password)]


# --- scale-out and cost (issue 18) -------------------------------------------------

ROLES = tuple(role.value for role in Role)
_NODE_POOL_RE = re.compile(
    rf"(?P<name>{_LABEL}):(?P<count>[1-9]\d?):(?P<type>[a-z]{{2,4}}\d{{1,3}})"
    rf":(?P<roles>(?:{'|'.join(ROLES)})(?:\+(?:{'|'.join(ROLES)}))*)"
)


def _price_override(value: str) -> str:
    parsed = parse_override(value)
    if parsed is None:
        raise ValueError(f"{value!r} is not 'key=EUR', e.g. 'cx23=4.49'")
    if not overridable(parsed[0]):
        raise ValueError(
            f"no price {parsed[0]!r} to override; a server or load balancer type or one of "
            f"{', '.join(k for k in PRICES if not k[-1].isdigit())}"
        )
    return value


def _node_pool(value: str) -> str:
    match = _NODE_POOL_RE.fullmatch(value)
    roles = match["roles"].split("+") if match else []
    if match is None or len(roles) != len(set(roles)):
        raise ValueError(
            f"{value!r} is not 'name:count:serverType:role+role' (roles: {', '.join(ROLES)}; "
            "each once), e.g. 'edge:1:cx23:manager+proxy+app'"
        )
    return value


PriceOverride = Annotated[str, AfterValidator(_price_override)]
NodePool = Annotated[str, AfterValidator(_node_pool)]
RegistryMirror = Annotated[
    str,
    full_match(
        _REGISTRY_RE,
        "a registry host with an optional port and path; expected e.g. "
        "'mirror.internal:5000' or 'harbor.example.com/dockerhub-proxy'",
        optional=True,
    ),
]
