"""How mail leaves and is authenticated: relay, zone, SPF, DKIM, DMARC and MTA-STS."""

from __future__ import annotations

from common.enums import DkimSigner, DmarcPolicy, MailRelay, SpfAll
from components.mail_records import SPF_MAX_LOOKUPS, spf_lookup_count
from mailstack.config.model import Problem, StackConfig


def zone_needed(c: StackConfig) -> list[Problem]:
    if c.uses_dns and not c.dns.zone_id:
        return [
            Problem(
                "cloudflareZoneId",
                "a `hetzner` target with `dnsProvider: cloudflare` "
                "needs the zone id (or set `dnsProvider: none`)",
            )
        ]
    return []


def mail_relay(c: StackConfig) -> list[Problem]:
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


def dns(c: StackConfig) -> list[Problem]:
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


def duplicates(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


def spf(c: StackConfig) -> list[Problem]:
    problems = []
    if dup := duplicates(c.dns.spf_includes):
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


def dkim(c: StackConfig) -> list[Problem]:
    problems = []
    if dup := duplicates(c.dns.dkim_selectors):
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
        # With `sesAsCode` the first `up` makes the identity and outputs its
        # tokens; until they are set here, DNS publishes no DKIM CNAMEs.
        if not tokens and not c.mail.ses_as_code:
            problems.append(
                Problem("sesDkimTokens", "`dkimSigner: ses` needs the 3 Easy DKIM tokens")
            )
    return problems


def ses_as_code(c: StackConfig) -> list[Problem]:
    """SES as code needs SES as the relay, on a server."""
    if not c.mail.ses_as_code:
        return []
    if c.mail.relay is not MailRelay.SES:
        return [Problem("sesAsCode", "needs `mailRelay: ses`")]
    if c.is_local:
        return [Problem("sesAsCode", "the `local` stack sends to its mail sink, not SES")]
    return []
