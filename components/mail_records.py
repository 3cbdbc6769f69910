"""Mail DNS as data: every record mailstack publishes for a domain, and the
SPF, DMARC, DKIM, MTA-STS and TLS-RPT values inside them.

Pure: no Pulumi, no provider. `build_records(params, values)` returns the full
record set; the `MailDomain` component turns each `DnsRecordSpec` into a
Cloudflare record, the zone renderer turns the same list into a BIND fragment,
and the tests check the values with the tools receivers use (dkimpy, checkdmarc).

Values that exist only after deployment (the server's addresses, generated DKIM
keys) come in `RecordValues`; `RecordValues.unknown` stands in for them so the
shape of the record set (names, types, TTLs) is known before they are.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from common import encode

AUTO_TTL = 1
"""Cloudflare's "automatic" TTL; the only TTL a proxied record may have."""
DEFAULT_TTL = 3600
SPF_MAX_LOOKUPS = 10
"""RFC 7208 §4.6.4: at most 10 DNS-querying terms per SPF evaluation."""
TXT_STRING_MAX = encode.TXT_STRING_MAX
MX_PRIORITY = 10
MTA_STS_MAX_AGE = 604800
"""One week, the RFC 8461 §3.2 example; receivers cache the policy this long."""

# Terms that cost a DNS lookup (RFC 7208 §4.6.4); ip4, ip6 and all cost none.
_LOOKUP_MECHANISMS = {"include", "a", "mx", "ptr", "exists"}
_LOOKUP_MODIFIERS = {"redirect"}


@dataclass(frozen=True)
class CaaValue:
    """One CAA property (RFC 8659); Cloudflare takes CAA as structured data."""

    flags: int
    tag: str
    value: str

    def __str__(self) -> str:
        return f'{self.flags} {self.tag} "{self.value}"'


@dataclass(frozen=True)
class DnsRecordSpec:
    """One DNS record, as the provider and the zone file need it."""

    key: str
    """Stable resource-name suffix, e.g. `mail-a`; renaming it replaces the record."""
    name: str
    """Fully qualified name without the trailing dot, e.g. `mail.example.com`."""
    type: str
    """Record type: A, AAAA, CNAME, MX, TXT or CAA."""
    content: str
    """Record data in zone-file form: TXT as quoted 255-octet strings, MX without priority."""
    ttl: int
    """Seconds; `AUTO_TTL` (1) when proxied."""
    proxied: bool = False
    """Served through Cloudflare's proxy; only web names may be."""
    priority: int | None = None
    """MX preference."""
    caa: CaaValue | None = None
    """Structured CAA data (Cloudflare does not accept CAA as content)."""
    derived: bool = False
    """Content comes from values known only after deploy (server addresses, DKIM keys)."""

    def as_dict(self) -> dict[str, str | int | bool]:
        """The record as operators read it in the stack outputs."""
        entry: dict[str, str | int | bool] = {
            "name": self.name,
            "type": self.type,
            "content": self.content,
            "ttl": self.ttl,
            "proxied": self.proxied,
        }
        if self.priority is not None:
            entry["priority"] = self.priority
        return entry


# --- value builders --------------------------------------------------------------


def txt_content(value: str) -> str:
    """A TXT value as RFC 1035 quoted character-strings of at most 255 octets each.

    Cloudflare's API takes and returns long TXT content in exactly this form
    (`"part1" "part2"`); sending one long string makes it split the value itself
    and every later run shows a diff.
    """
    return encode.dns_txt(value)


_TXT_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


def txt_strings(content: str) -> list[str]:
    """The character-strings of quoted TXT content (the inverse of `txt_content`)."""
    rest = _TXT_STRING_RE.sub("", content).strip()
    if rest:
        raise ValueError(f"TXT content has text outside quoted strings: {rest!r}")
    return [re.sub(r"\\(.)", r"\1", s) for s in _TXT_STRING_RE.findall(content)]


def spf_value(mechanisms: Sequence[str], all_term: str) -> str:
    """`v=spf1 <mechanisms> <all>`; raises if it would cost more than 10 lookups."""
    value = " ".join(["v=spf1", *mechanisms, all_term])
    lookups = spf_lookup_count(value)
    if lookups > SPF_MAX_LOOKUPS:
        raise ValueError(f"SPF record needs {lookups} DNS lookups; at most {SPF_MAX_LOOKUPS}")
    return value


def spf_lookup_count(value: str) -> int:
    """DNS-querying terms in one SPF record, not counting those of included records."""
    count = 0
    for term in value.split()[1:]:
        name = re.split(r"[:/=]", term.lstrip("+-~?"), maxsplit=1)[0].lower()
        is_modifier = "=" in term and name in _LOOKUP_MODIFIERS
        if is_modifier or ("=" not in term and name in _LOOKUP_MECHANISMS):
            count += 1
    return count


@dataclass(frozen=True)
class DmarcParams:
    """What goes into the `_dmarc` record (RFC 7489 §6.3)."""

    policy: str
    """`p=`: none, quarantine or reject."""
    rua: str
    """Address for aggregate reports."""
    subdomain_policy: str = ""
    """`sp=`; empty means the main policy applies to subdomains."""
    pct: int = 100
    """`pct=`: share of failing mail the policy applies to (written only below 100)."""
    ruf: str = ""
    """Address for failure reports; empty for none."""
    adkim: str = "r"
    """DKIM alignment: r (relaxed) or s (strict)."""
    aspf: str = "r"
    """SPF alignment: r (relaxed) or s (strict)."""


def dmarc_value(params: DmarcParams) -> str:
    tags = [("v", "DMARC1"), ("p", params.policy)]
    if params.subdomain_policy:
        tags.append(("sp", params.subdomain_policy))
    if params.pct != 100:
        # RFC 9989 (DMARCbis) dropped pct; receivers that still read it need it only
        # below 100, which is its default.
        tags.append(("pct", str(params.pct)))
    tags.append(("rua", f"mailto:{params.rua}"))
    if params.ruf:
        # fo=1: report when either mechanism fails, which is what helps debugging.
        tags += [("ruf", f"mailto:{params.ruf}"), ("fo", "1")]
    tags += [("adkim", params.adkim), ("aspf", params.aspf)]
    return "; ".join(f"{k}={v}" for k, v in tags)


def dkim_public_key_base64(public_key_pem: str) -> str:
    """The base64 body of a PEM SubjectPublicKeyInfo: what DKIM's `p=` carries."""
    lines = [line.strip() for line in public_key_pem.strip().splitlines()]
    if (
        not lines
        or lines[0] != "-----BEGIN PUBLIC KEY-----"
        or lines[-1] != "-----END PUBLIC KEY-----"
    ):
        raise ValueError("expected a PEM public key ('-----BEGIN PUBLIC KEY-----')")
    body = "".join(lines[1:-1])
    base64.b64decode(body, validate=True)
    return body


def dkim_value(public_key_base64: str) -> str:
    """The DKIM key record (RFC 6376 §3.6.1) for an RSA public key."""
    return f"v=DKIM1; k=rsa; p={public_key_base64}"


def mta_sts_policy(mode: str, mx_hosts: Sequence[str], max_age: int = MTA_STS_MAX_AGE) -> str:
    """The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {mx}" for mx in mx_hosts)]
    lines.append(f"max_age: {max_age}")
    return "\r\n".join(lines) + "\r\n"


def mta_sts_id(policy: str) -> str:
    """A policy id that changes exactly when the policy does (RFC 8461 §3.1: 1-32 alnum)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:32]


def tls_rpt_value(rua: str) -> str:
    return f"v=TLSRPTv1; rua=mailto:{rua}"


# --- the record set ------------------------------------------------------------------


@dataclass(frozen=True)
class SesParams:
    """Amazon SES as the relay: its custom MAIL FROM domain and Easy DKIM tokens."""

    region: str
    """SES region, e.g. `eu-central-1`; the MAIL FROM MX points to its feedback host."""
    mail_from: str
    """Custom MAIL FROM (envelope sender) domain, e.g. `bounce.example.com`."""
    dkim_tokens: tuple[str, ...] = ()
    """Easy DKIM tokens; non-empty means SES signs and gets the DKIM CNAMEs."""

    @property
    def feedback_host(self) -> str:
        return f"feedback-smtp.{self.region}.amazonses.com"


@dataclass(frozen=True)
class MailRecordParams:
    """Everything that decides a domain's mail and web records, except deploy-time values."""

    domain: str
    """The zone's domain, e.g. `example.com`."""
    app_host: str
    """The app's web name, e.g. `app.example.com`."""
    mail_host: str
    """The sending host's name; equals the reverse DNS of the server's IPs."""
    dmarc: DmarcParams
    """The DMARC record's contents."""
    caa_issuer: str = "letsencrypt.org"
    """The only CA allowed to issue certificates."""
    caa_iodef: str = ""
    """Where CAs report refused requests; empty for none."""
    proxy_web: bool = False
    """Proxy the app (and www) through Cloudflare."""
    www_redirect: bool = False
    """Publish `www.<domain>` pointing at the app host (the proxy redirects it)."""
    storage_host: str = ""
    """The object store's public S3 host (the server's addresses, never proxied:
    Cloudflare would cap uploads and a proxied app host would take it along);
    empty for none."""
    has_ipv6: bool = True
    """The server has an IPv6 address to publish."""
    receives_mail: bool = False
    """Publish MX for the domain, pointing at the mail host."""
    spf_includes: tuple[str, ...] = ()
    """Other senders' SPF domains, each an `include:`."""
    spf_server_ips: bool = False
    """The server delivers mail itself, so its addresses go into SPF."""
    spf_all: str = "~all"
    """SPF terminator: `-all` or `~all`."""
    dkim_selectors: tuple[str, ...] = ()
    """Selectors of mailstack's own DKIM keys to publish (empty when SES signs)."""
    ses: SesParams | None = None
    """SES relay settings; None for another relay."""
    mta_sts_mode: str = ""
    """MTA-STS mode (`testing` or `enforce`); empty publishes no MTA-STS."""
    tls_rpt_rua: str = ""
    """TLS-RPT report address; empty publishes no TLS-RPT."""
    null_mx_names: tuple[str, ...] = ()
    """Names that never send or receive mail."""
    ttl: int = DEFAULT_TTL
    """TTL of every record that is not proxied."""

    @property
    def mta_sts_host(self) -> str:
        return f"mta-sts.{self.domain}"

    def mta_sts_policy(self) -> str:
        return mta_sts_policy(self.mta_sts_mode, [self.mail_host])


@dataclass(frozen=True)
class RecordValues:
    """Values known only after deploy."""

    ipv4: str
    """The server's public IPv4 address."""
    ipv6: str | None = None
    """The server's public IPv6 address (one address, not the /64)."""
    dkim_public_keys: Mapping[str, str] = field(default_factory=dict)
    """Selector -> base64 SubjectPublicKeyInfo of its RSA key."""

    @classmethod
    def of_server(
        cls, ipv4: str, ipv6: str | None, dkim_public_keys: Mapping[str, str]
    ) -> RecordValues:
        """Deployed values, checked: A/AAAA take one address each. Hetzner's IPv6
        primary IP is a /64, so the server must hand over an address inside it."""
        try:
            v4 = str(ipaddress.IPv4Address(ipv4))
            v6 = None if ipv6 is None else str(ipaddress.IPv6Address(ipv6))
        except ValueError as err:
            raise ValueError(f"server address for A/AAAA records: {err}") from None
        return cls(v4, v6, dict(dkim_public_keys))

    @classmethod
    def unknown(cls, params: MailRecordParams) -> RecordValues:
        """Placeholders that give the record set its shape before the values exist."""
        return cls(
            ipv4="<server-ipv4>",
            ipv6="<server-ipv6>" if params.has_ipv6 else None,
            dkim_public_keys={s: f"<dkim-{s}>" for s in params.dkim_selectors},
        )


def _ses_records(domain: str, ses: SesParams, ttl: int) -> list[DnsRecordSpec]:
    """SES Easy DKIM delegations and SES's custom MAIL FROM domain."""
    records = [
        DnsRecordSpec(
            f"ses-dkim-{i}",
            f"{token}._domainkey.{domain}",
            "CNAME",
            f"{token}.dkim.amazonses.com",
            ttl,
        )
        for i, token in enumerate(ses.dkim_tokens, start=1)
    ]
    # SES's custom MAIL FROM: bounces come back to SES, SPF authorizes SES.
    spf = txt_content(spf_value(["include:amazonses.com"], "-all"))
    return [
        *records,
        DnsRecordSpec("ses-mail-from-mx", ses.mail_from, "MX", ses.feedback_host, ttl, priority=10),
        DnsRecordSpec("ses-mail-from-spf", ses.mail_from, "TXT", spf, ttl),
    ]


def _caa_records(p: MailRecordParams, ttl: int) -> list[DnsRecordSpec]:
    """CAA: one CA, no wildcards, and where to report refused requests."""
    values = [("issue", p.caa_issuer), ("issuewild", ";")]
    if p.caa_iodef:
        values.append(("iodef", f"mailto:{p.caa_iodef}"))
    return [
        DnsRecordSpec(f"caa-{tag}", p.domain, "CAA", str(c := CaaValue(0, tag, value)), ttl, caa=c)
        for tag, value in values
    ]


def build_records(params: MailRecordParams, values: RecordValues) -> list[DnsRecordSpec]:
    """The full record set for `params.domain`, in a stable, readable order."""
    p = params
    ttl = p.ttl
    web_ttl = AUTO_TTL if p.proxy_web else ttl
    records: list[DnsRecordSpec] = []

    def address(key: str, name: str, proxied: bool) -> None:
        rttl = AUTO_TTL if proxied else ttl
        records.append(
            DnsRecordSpec(f"{key}-a", name, "A", values.ipv4, rttl, proxied, derived=True)
        )
        if p.has_ipv6:
            if values.ipv6 is None:
                raise ValueError("has_ipv6 is set but no IPv6 address was given")
            records.append(
                DnsRecordSpec(f"{key}-aaaa", name, "AAAA", values.ipv6, rttl, proxied, derived=True)
            )

    def txt(key: str, name: str, value: str, derived: bool = False) -> None:
        records.append(DnsRecordSpec(key, name, "TXT", txt_content(value), ttl, derived=derived))

    # Web: the only names that may go through the proxy.
    address("app", p.app_host, p.proxy_web)
    if p.www_redirect:
        records.append(
            DnsRecordSpec("www", f"www.{p.domain}", "CNAME", p.app_host, web_ttl, p.proxy_web)
        )

    if p.storage_host:
        address("storage", p.storage_host, proxied=False)

    # The sending host: never proxied, and named like the server's reverse DNS.
    address("mail", p.mail_host, proxied=False)
    if p.receives_mail:
        records.append(DnsRecordSpec("mx", p.domain, "MX", p.mail_host, ttl, priority=MX_PRIORITY))

    # SPF for the domain: only what sends with it as envelope sender.
    mechanisms = [f"include:{d}" for d in p.spf_includes]
    if p.spf_server_ips:
        mechanisms.append(f"ip4:{values.ipv4}")
        if values.ipv6 is not None:
            mechanisms.append(f"ip6:{values.ipv6}")
    txt("spf", p.domain, spf_value(mechanisms, p.spf_all), derived=p.spf_server_ips)

    # DKIM: mailstack's own keys, or SES Easy DKIM delegations.
    for selector in p.dkim_selectors:
        key = values.dkim_public_keys[selector]
        txt(f"dkim-{selector}", f"{selector}._domainkey.{p.domain}", dkim_value(key), True)
    if p.ses is not None:
        records += _ses_records(p.domain, p.ses, ttl)

    txt("dmarc", f"_dmarc.{p.domain}", dmarc_value(p.dmarc))

    # CAA: one CA, no wildcards, and where to report refused requests.
    records += _caa_records(p, ttl)

    if p.receives_mail and p.mta_sts_mode:
        # The policy is served by the proxy on the server, next to the mail host.
        records.append(DnsRecordSpec("mta-sts", p.mta_sts_host, "CNAME", p.mail_host, ttl))
        txt("mta-sts-id", f"_mta-sts.{p.domain}", f"v=STSv1; id={mta_sts_id(p.mta_sts_policy())}")
    if p.receives_mail and p.tls_rpt_rua:
        txt("tls-rpt", f"_smtp._tls.{p.domain}", tls_rpt_value(p.tls_rpt_rua))

    for name in p.null_mx_names:
        # RFC 7505 null MX: "this name accepts no mail"; SPF -all: "sends none".
        label = null_mx_label(name, p.domain)
        records.append(DnsRecordSpec(f"null-mx-{label}", name, "MX", ".", ttl, priority=0))
        txt(f"null-spf-{label}", name, spf_value([], "-all"))
    return records


def null_mx_label(name: str, domain: str) -> str:
    """The part of a null-MX name's record keys that tells it apart (dots as hyphens)."""
    return name.removesuffix(f".{domain}").replace(".", "-")


def records_by_key(records: Sequence[DnsRecordSpec]) -> dict[str, DnsRecordSpec]:
    """Index by key; raises on a duplicate key (two resources with one name)."""
    index: dict[str, DnsRecordSpec] = {}
    for record in records:
        if record.key in index:
            raise ValueError(f"two records share the key {record.key!r}")
        index[record.key] = record
    return index
