"""Render the mail domain's records as a BIND zone-file fragment for review.

Pure. Names are absolute, so the fragment can be pasted into any zone for the
domain or wrapped with an SOA and NS to run `named-checkzone` on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.mail_records import AUTO_TTL, DnsRecordSpec


def _rdata(record: DnsRecordSpec) -> str:
    if record.type == "MX":
        target = "." if record.content == "." else f"{record.content}."
        return f"{record.priority} {target}"
    if record.type == "CNAME":
        return f"{record.content}."
    return record.content


def render_zone_fragment(domain: str, records: Sequence[DnsRecordSpec]) -> str:
    """One line per record, in the order given; proxied records are marked."""
    lines = [
        f"; DNS records mailstack manages in the Cloudflare zone of {domain}.",
        "; Generated; review changes here, edit the stack config instead.",
        f"; TTL {AUTO_TTL} is Cloudflare's 'automatic'; proxied names answer with "
        "Cloudflare's addresses.",
    ]
    for record in records:
        line = f"{record.name}.\t{record.ttl}\tIN\t{record.type}\t{_rdata(record)}"
        if record.proxied:
            line += "\t; proxied"
        lines.append(line)
    return "\n".join(lines) + "\n"
