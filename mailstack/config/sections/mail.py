"""DNS and mail authentication, and how mail leaves."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.enums import (
    Alignment,
    DkimSigner,
    DmarcPolicy,
    DnsProvider,
    MailRelay,
    MtaStsMode,
    SpfAll,
)
from mailstack.config.sections.base import Section, key
from mailstack.config.types import (
    DnsLabel,
    Domain,
    OptionalDomain,
    OptionalEmail,
    Port,
    Printable,
    SpfDomain,
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
    smtp_host: OptionalDomain = key(
        "smtpHost", "", "SMTP relay host (for `smtp`; `ses` derives it)."
    )
    smtp_port: Port = key("smtpPort", 587, "SMTP relay port (587 with STARTTLS).")
    smtp_username: Printable = key("smtpUsername", "", "SMTP relay user name.")
    ses_region: str = key(
        "sesRegion",
        "eu-central-1",
        "AWS region of SES.",
        pattern=r"^[a-z]{2}(-gov)?-[a-z]{4,12}-\d$",
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
