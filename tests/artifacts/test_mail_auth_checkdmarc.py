"""SPF and DMARC values mailstack publishes parse cleanly with checkdmarc, offline.

checkdmarc follows `include:` and checks report addresses through a resolver;
it gets a `ZoneResolver` holding mailstack's own rendered records plus stubs for
other domains, and every socket is closed, so nothing reaches real DNS.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import checkdmarc.utils
import pytest
from checkdmarc.dmarc import parse_dmarc_record
from checkdmarc.spf import SPFTooManyDNSLookups, parse_spf_record

from components.mail_records import (
    SPF_MAX_LOOKUPS,
    DnsRecordSpec,
    RecordValues,
    build_records,
    dkim_public_key_base64,
    spf_lookup_count,
    txt_strings,
)
from mailstack.config import ConfigError, StackConfig, validate
from tests.artifacts.zone_resolver import ZoneResolver
from tests.conftest import stack_config
from tools.fakes import FAKE_RSA_PUBLIC_KEY_PEM

IPV4, IPV6 = "203.0.113.25", "2001:db8:25::1"
PCT_REMOVED = "Support for the pct tag was removed in RFC 9989"

# Other domains' records, as their owners publish them (no nested lookups).
STUBS: dict[tuple[str, str], list[str]] = {
    ("amazonses.com", "TXT"): ['"v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all"'],
    ("_spf.example.net", "TXT"): ['"v=spf1 ip4:198.51.100.0/24 -all"'],
    ("spf.relay.example.org", "TXT"): ['"v=spf1 ip6:2001:db8:aaaa::/48 -all"'],
    ("mx.provider.example.net", "A"): ["198.51.100.25"],
    ("reports.example.org", "MX"): ["10 mx.provider.example.net."],
    ("example.com._report._dmarc.reports.example.org", "TXT"): ['"v=DMARC1"'],
    ("dev.example.com._report._dmarc.reports.example.org", "TXT"): ['"v=DMARC1"'],
}

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "prod": ("prod", {}),
    "dev": ("dev", {}),
    "smtp-relay-strict": (
        "prod",
        {
            "mailRelay": "smtp",
            "smtpHost": "smtp.relay.example.org",
            "spfIncludes": ["spf.relay.example.org", "_spf.example.net"],
            "dmarcPolicy": "reject",
            "dmarcSubdomainPolicy": "none",
            "dmarcAlignDkim": "s",
            "dmarcAlignSpf": "s",
            "dmarcRuf": "forensic@example.com",
        },
    ),
    "server-sends-itself": (
        "dev",
        {"spfServerIps": True, "nullMxNames": ["app.dev.example.com"], "receivesMail": True},
    ),
    "external-reports-and-ramp": (
        "dev",
        {
            "dmarcPolicy": "quarantine",
            "dmarcPct": 25,
            "dmarcRua": "dmarc@reports.example.org",
            "sesDkimTokens": ["a" * 32, "b" * 32, "c" * 32],
        },
    ),
    "ten-includes": ("dev", {"spfIncludes": [f"s{i}.example.net" for i in range(10)]}),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse and record any network use (resolvers swallow the error, so the test
    fails afterwards); forget what checkdmarc cached from other tests."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(repr(args))
        raise OSError("network access refused in an offline test")

    for method in ("connect", "connect_ex", "sendto", "send", "sendall"):
        monkeypatch.setattr(socket.socket, method, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    checkdmarc.utils.DNS_CACHE.clear()
    yield
    checkdmarc.utils.DNS_CACHE.clear()
    assert attempts == [], "a validator tried to reach the network"


def published(stack: str, edits: dict[str, Any]) -> tuple[StackConfig, list[DnsRecordSpec]]:
    from mailstack.wiring import mail_domain_args

    config = validate(*stack_config(stack, set=edits))
    params = mail_domain_args(config, IPV4, IPV6).records
    key = dkim_public_key_base64(FAKE_RSA_PUBLIC_KEY_PEM)
    values = RecordValues(IPV4, IPV6, {s: key for s in params.dkim_selectors})
    return config, build_records(params, values)


def resolver_for(config: StackConfig, records: list[DnsRecordSpec]) -> ZoneResolver:
    stubs = {**STUBS, **{(f"s{i}.example.net", "TXT"): ['"v=spf1 -all"'] for i in range(10)}}
    if not config.dns.receives_mail:
        # The domain's mailboxes (dmarc@, postmaster@) live with an existing provider.
        stubs[(config.domain.domain, "MX")] = ["10 mx.provider.example.net."]
    return ZoneResolver(config.domain.domain, records, stubs)


def txt_values(records: list[DnsRecordSpec], prefix: str) -> list[tuple[str, str]]:
    found = []
    for r in records:
        if r.type == "TXT":
            value = "".join(txt_strings(r.content))
            if value.startswith(prefix):
                found.append((r.name, value))
    return found


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_spf_records_parse_cleanly_within_the_lookup_limit(case: str) -> None:
    config, records = published(*CONFIGS[case])
    resolver = resolver_for(config, records)
    spf = txt_values(records, "v=spf1")
    assert spf
    for name, value in spf:
        result = parse_spf_record(value, name, resolver=resolver)
        assert result["warnings"] == [], (name, result["warnings"])
        # Stubbed includes have no lookups of their own, so the totals agree.
        assert result["dns_lookups"] == spf_lookup_count(value) <= SPF_MAX_LOOKUPS
        expected_all = "fail" if name != config.domain.domain else config.dns.spf_all.name.lower()
        assert result["parsed"]["all"] == expected_all, (name, value)
    root = dict(spf)[config.domain.domain]
    assert (f"ip4:{IPV4}" in root) == config.dns.spf_server_ips
    assert (f"ip6:{IPV6}" in root) == config.dns.spf_server_ips


def expected_dmarc_warnings(config: StackConfig) -> list[str]:
    """What checkdmarc says about the choices the config made on purpose."""
    d = config.domain.domain
    warnings = []
    if config.dns.dmarc_policy.value == "none":
        warnings.append(f"A p tag value of none makes DMARC unenforced on email sent as {d}.")
    if config.dns.dmarc_subdomain_policy == "none":
        warnings.append(
            f"An sp tag value of none makes DMARC unenforced on email sent as a subdomain of {d}."
        )
    if config.dns.dmarc_pct != 100:
        warnings.append(PCT_REMOVED)
    return warnings


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_dmarc_record_parses_cleanly(case: str) -> None:
    config, records = published(*CONFIGS[case])
    resolver = resolver_for(config, records)
    ((name, value),) = txt_values(records, "v=DMARC1")
    assert name == f"_dmarc.{config.domain.domain}"
    result = parse_dmarc_record(value, config.domain.domain, resolver=resolver)
    assert result["warnings"] == expected_dmarc_warnings(config)
    tags = result["tags"]
    assert tags["p"]["value"] == config.dns.dmarc_policy.value
    assert [r["address"] for r in tags["rua"]["value"]] == [config.dmarc_rua]
    assert tags["adkim"]["value"] == config.dns.dkim_alignment.value
    assert tags["aspf"]["value"] == config.dns.spf_alignment.value
    sp = config.dns.dmarc_subdomain_policy or config.dns.dmarc_policy.value
    assert tags["sp"]["value"] == sp


def test_checkdmarc_and_the_config_rule_agree_on_eleven_includes() -> None:
    includes = [f"s{i}.example.net" for i in range(11)]
    stubs = {(d, "TXT"): ['"v=spf1 -all"'] for d in includes}
    resolver = ZoneResolver("example.com", [], stubs)
    value = "v=spf1 " + " ".join(f"include:{d}" for d in includes) + " -all"
    with pytest.raises(SPFTooManyDNSLookups):
        parse_spf_record(value, "example.com", resolver=resolver)
    with pytest.raises(ConfigError, match="spfIncludes: 11 includes need 11 DNS lookups"):
        validate(*stack_config("dev", set={"spfIncludes": includes}))


def test_checkdmarc_rejects_a_bad_policy_that_config_also_refuses() -> None:
    from checkdmarc.dmarc import InvalidDMARCTagValue

    resolver = ZoneResolver("example.com", [], {})
    with pytest.raises(InvalidDMARCTagValue):
        parse_dmarc_record(
            "v=DMARC1; p=block; rua=mailto:d@example.com", "example.com", resolver=resolver
        )
    with pytest.raises(ConfigError, match="dmarcPolicy"):
        validate(*stack_config("dev", set={"dmarcPolicy": "block"}))
