"""Value types of config keys: each a str checked with a full match, with an example.

A value that passes here still reaches its consumer encoded for its context
(shell, YAML, Caddyfile, ...); these checks refuse what the consumer cannot take.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

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
    if value and not re.match(r"^https://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


_REGISTRY_RE = re.compile(
    r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
)


def _registry_mirror(value: str) -> str:
    if value and not _REGISTRY_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a registry host with an optional port and path; expected "
            "e.g. 'mirror.internal:5000' or 'harbor.example.com/dockerhub-proxy'"
        )
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
RegistryMirror = Annotated[str, AfterValidator(_registry_mirror)]
