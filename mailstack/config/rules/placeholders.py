"""Placeholder values: the committed examples that must not reach a real server.

The committed stack files carry documentation values (RFC 2606 domains, the
RFC 5737/3849 documentation address ranges, an example SSH key and zone id)
so that synth and preview run out of the box. A real `pulumi up` with any of
them would stall on SSH or write DNS for a domain nobody owns, so the loader
warns about them in synth and preview and refuses them in a real `up`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from mailstack.config.model import Problem, StackConfig, key_specs

EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
PLACEHOLDER_SSH_KEY = (
    "AAAAC3NzaC1lZDI1NTE5AAAAIKmailstackExampleKeyReplaceMeWithYours00000"  # the key's blob
)
PLACEHOLDER_ZONE_ID = "0123456789abcdef0123456789abcdef"

INSTEAD = {
    "domain": "your own mail domain, in the Cloudflare zone of `cloudflareZoneId`",
    "cloudflareZoneId": "your zone's id (Cloudflare dashboard: the domain > Overview > Zone ID)",
    "sshPublicKeys": "your public key: the line in ~/.ssh/id_ed25519.pub "
    "(`ssh-keygen -t ed25519` makes one)",
    "adminCidrs": "the public address you run `pulumi up` from as <address>/32 "
    "(`curl -s https://ifconfig.me`)",
}
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+")


def _example_domain(text: str) -> str | None:
    for token in _HOST_RE.findall(text.lower()):
        for domain in EXAMPLE_DOMAINS:
            if token == domain or token.endswith(f".{domain}"):
                return domain
    return None


def _documentation_network(text: str) -> str | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    for doc in DOCUMENTATION_NETWORKS:
        if network.version == doc.version and network.subnet_of(doc):  # type: ignore[arg-type]
            return str(doc)
    return None


def _why(text: str) -> str | None:
    if (domain := _example_domain(text)) is not None:
        return f"{domain} is reserved for documentation (RFC 2606)"
    if (network := _documentation_network(text)) is not None:
        return f"{network} is a documentation address range"
    if PLACEHOLDER_SSH_KEY in text.split():
        return "it is the example key committed with mailstack"
    if text == PLACEHOLDER_ZONE_ID:
        return "it is the example zone id committed with mailstack"
    return None


def _values(alias: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(alias, value)]
    if isinstance(value, list | tuple):
        return [(f"{alias}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def placeholder_values(c: StackConfig) -> list[Problem]:
    """Every config value that is still a placeholder, with what to put there instead.

    The local stack never leaves the machine: its placeholders are fine.
    """
    if c.is_local:
        return []
    problems = []
    for spec in key_specs():
        if spec.secret:
            continue
        value = getattr(getattr(c, spec.section), spec.field)
        for path, text in _values(spec.alias, value):
            if (why := _why(text)) is not None:
                instead = INSTEAD.get(spec.alias, "your own value")
                problems.append(
                    Problem(
                        path,
                        f"{text!r} is a placeholder ({why}): replace it with {instead} "
                        "(a real `pulumi up` refuses it; synth and preview only warn)",
                    )
                )
    return problems
