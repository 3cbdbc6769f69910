"""Value types of config keys: each a str checked with a full match, with an example.

A value that passes here still reaches its consumer encoded for its context
(shell, YAML, Caddyfile, ...); these checks refuse what the consumer cannot take.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from common.app_env import is_container_path, is_env_name

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


def _env_assignment(value: str) -> str:
    name, sep, rest = value.partition("=")
    if not sep or not is_env_name(name) or re.search(r"[\x00-\x1f\x7f]", rest):
        raise ValueError(
            f"{value!r} is not NAME=value; expected e.g. 'LOG_LEVEL=info' (a name of letters, "
            "digits and '_', not starting with a digit; a value on one line)"
        )
    return value


def _container_path(value: str) -> str:
    if not is_container_path(value):
        raise ValueError(
            f"{value!r} is not an absolute path in the container; expected e.g. '/data' "
            "(letters, digits, '.', '_', '-'; no '..', no trailing '/')"
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
EnvAssignment = Annotated[str, AfterValidator(_env_assignment)]
ContainerPath = Annotated[str, AfterValidator(_container_path)]
Port = Annotated[int, Field(ge=1, le=65535)]
