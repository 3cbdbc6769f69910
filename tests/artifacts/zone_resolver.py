"""A DNS resolver that answers from mailstack's rendered zone, and nothing else.

Validators that look names up (checkdmarc follows `include:` and checks report
addresses) get the records mailstack would publish plus a few stubs for other
domains, so they run offline and see exactly what receivers would see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.zone

from components.mail_records import DnsRecordSpec
from components.zonefile import render_zone_fragment


def wrap_in_zone(domain: str, fragment: str) -> str:
    """The fragment inside a minimal zone: SOA and NS, as a primary server would hold it."""
    return (
        f"$ORIGIN {domain}.\n$TTL 3600\n"
        f"@\tIN\tSOA\tns1.{domain}. hostmaster.{domain}. 1 7200 3600 1209600 3600\n"
        f"@\tIN\tNS\tns1.{domain}.\n"
        f"ns1\tIN\tA\t192.0.2.53\n" + fragment
    )


class ZoneResolver(dns.resolver.Resolver):
    """Answers from one zone plus `stubs`; NXDOMAIN for everything else."""

    def __init__(
        self,
        domain: str,
        records: Sequence[DnsRecordSpec],
        stubs: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> None:
        super().__init__(configure=False)
        self.nameservers = ["192.0.2.53"]
        text = wrap_in_zone(domain, render_zone_fragment(domain, records))
        self.zone = dns.zone.from_text(text, origin=domain, relativize=False)
        self.stubs = {(n.lower(), t.upper()): list(v) for (n, t), v in (stubs or {}).items()}
        self.queries: list[tuple[str, str]] = []

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
        name = str(qname).rstrip(".").lower()
        kind = dns.rdatatype.to_text(dns.rdatatype.from_text(str(rdtype)))
        self.queries.append((name, kind))
        if (name, kind) in self.stubs:
            return [
                dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(kind), value)
                for value in self.stubs[(name, kind)]
            ]
        node = self.zone.get_node(dns.name.from_text(name))
        if node is None:
            if any(n == name for n, _ in self.stubs):
                raise dns.resolver.NoAnswer
            raise dns.resolver.NXDOMAIN(qnames=[dns.name.from_text(name)])  # type: ignore[no-untyped-call]
        rdataset = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.from_text(kind))
        if rdataset is None:
            raise dns.resolver.NoAnswer
        return list(rdataset)
