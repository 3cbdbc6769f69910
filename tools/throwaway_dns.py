"""Which Cloudflare DNS records the reaper deletes: those of reaped throwaways.

A throwaway's mail domain is `<stack>.<dev domain>` (`throwaway_config`), so
every record its program creates is named that domain or a name under it, and
carries the program's comment. The reaper deletes a record only when all hold:

- the stack is a throwaway name (`pr-<n>`, `tw-<user>-<date>-<rand>`, never
  containing `prod`): `is_throwaway_name`;
- the record's name, without a trailing dot and in lower case, is
  `<stack>.<dev domain>` or ends with `.<stack>.<dev domain>`;
- its comment is the one the program writes (`managed by mailstack`), so a
  record someone made by hand under that name stays.

No prod record can match: prod's names are its own domain and names under it
(`example.com`, `mail.example.com`, `_dmarc.example.com`...), and the prod
config rule refuses throwaway labels and an expiry. tests/unit/test_throwaway_dns.py
feeds the rules every record a synth of prod (and of dev) makes, for many
throwaway names, and every record a throwaway makes as the control.

Standard library only, as `scripts/reap.py` runs on a bare Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.throwaway import BASE_STACK, is_throwaway_name

MANAGED_COMMENT = "managed by mailstack"
"""What components/dns.py writes as every record's comment."""

_DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_ZONE_ID_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DnsRecord:
    """What the reaper needs to know of a Cloudflare DNS record."""

    id: str
    name: str
    type: str
    comment: str

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> DnsRecord:
        return cls(
            id=str(item["id"]),
            name=str(item.get("name", "")),
            type=str(item.get("type", "")),
            comment=str(item.get("comment") or ""),
        )


def throwaway_domain(stack: str, base_domain: str) -> str:
    """`<stack>.<dev domain>`, the mail domain of a throwaway stack."""
    if not is_throwaway_name(stack):
        raise ValueError(f"{stack!r} is not a throwaway stack name")
    if _DOMAIN_RE.fullmatch(base_domain) is None:
        raise ValueError(f"{base_domain!r} is not a domain name")
    return f"{stack}.{base_domain}"


def belongs_to(record: DnsRecord, stack: str, base_domain: str) -> bool:
    """True only for a record the throwaway `stack`'s program made."""
    domain = throwaway_domain(stack, base_domain)
    name = record.name.lower().removesuffix(".")
    under = name == domain or name.endswith(f".{domain}")
    return under and record.comment == MANAGED_COMMENT


def select_records(
    records: Iterable[DnsRecord], stacks: Iterable[str], base_domain: str
) -> dict[str, list[DnsRecord]]:
    """The records of each of `stacks` (throwaway names only), by stack."""
    wanted = [s for s in stacks if is_throwaway_name(s)]
    listed = list(records)
    return {s: [r for r in listed if belongs_to(r, s, base_domain)] for s in wanted}


def dev_dns_settings(root: Path) -> tuple[str, str]:
    """dev's `domain` and `cloudflareZoneId`, read from Pulumi.dev.yaml.

    Line by line (two plain scalars), so the reaper needs no YAML library; each
    value is checked in full, and a missing or odd one is an error naming its key.
    """
    found: dict[str, str] = {}
    text = (root / f"Pulumi.{BASE_STACK}.yaml").read_text()
    for line in text.splitlines():
        match = re.fullmatch(r"  mailstack:(domain|cloudflareZoneId): *(\S+) *", line)
        if match:
            found[match.group(1)] = match.group(2).strip("'\"")
    domain, zone = found.get("domain", ""), found.get("cloudflareZoneId", "")
    if _DOMAIN_RE.fullmatch(domain) is None:
        raise ValueError(f"Pulumi.{BASE_STACK}.yaml: mailstack:domain {domain!r} is not a domain")
    if _ZONE_ID_RE.fullmatch(zone) is None:
        raise ValueError(
            f"Pulumi.{BASE_STACK}.yaml: mailstack:cloudflareZoneId {zone!r} is not a zone id"
        )
    return domain, zone
