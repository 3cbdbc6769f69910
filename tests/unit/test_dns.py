"""MailDomain under mocks: the full record set, and the rules receivers and Cloudflare impose."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.mail_records import dkim_public_key_base64, dkim_value, txt_content
from mailstack.config import validate
from tests.conftest import RunStack, stack_config
from tools.fakes import FAKE_RSA_PUBLIC_KEY_PEM
from tools.harness import ROOT, MailstackMocks, RecordingMonitor, Registration, Run, run_program

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
# The server's primary IPs as tools/fakes.py derives them from their names.
IPV4, IPV6 = "203.0.113.29", "2001:db8:e3ce::1"
FAKE_DKIM = txt_content(dkim_value(dkim_public_key_base64(FAKE_RSA_PUBLIC_KEY_PEM)))
TOKENS = ["a" * 32, "b" * 32, "c" * 32]

Row = tuple[str, str, str, int, bool]


def rows(run: Run) -> list[Row]:
    """(name, type, content, ttl, proxied) of every DNS record, CAA rendered as content."""
    result = []
    for r in run.of_type(DNS_RECORD):
        i = r.inputs
        content = str(i.get("content"))
        if i["type"] == "CAA":
            data = i["data"]
            content = f'{int(data["flags"])} {data["tag"]} "{data["value"]}"'
        if i["type"] == "MX":
            content = f"{int(i['priority'])} {content}"
        result.append((str(i["name"]), str(i["type"]), content, int(i["ttl"]), bool(i["proxied"])))
    return result


def test_dev_record_set(stack_runs: dict[str, Run]) -> None:
    d = "dev.example.com"
    assert sorted(rows(stack_runs["dev"])) == sorted(
        [
            (f"app.{d}", "A", IPV4, 3600, False),
            (f"app.{d}", "AAAA", IPV6, 3600, False),
            (f"mail.{d}", "A", IPV4, 3600, False),
            (f"mail.{d}", "AAAA", IPV6, 3600, False),
            (d, "TXT", '"v=spf1 ~all"', 3600, False),
            (f"ms202611._domainkey.{d}", "TXT", FAKE_DKIM, 3600, False),
            (f"bounce.{d}", "MX", "10 feedback-smtp.eu-central-1.amazonses.com", 3600, False),
            (f"bounce.{d}", "TXT", '"v=spf1 include:amazonses.com -all"', 3600, False),
            (
                f"_dmarc.{d}",
                "TXT",
                f'"v=DMARC1; p=none; rua=mailto:dmarc@{d}; adkim=r; aspf=r"',
                3600,
                False,
            ),
            (d, "CAA", '0 issue "letsencrypt.org"', 3600, False),
            (d, "CAA", '0 issuewild ";"', 3600, False),
            (d, "CAA", f'0 iodef "mailto:dmarc@{d}"', 3600, False),
        ]
    )


def test_prod_record_set(stack_runs: dict[str, Run]) -> None:
    d = "example.com"
    assert sorted(rows(stack_runs["prod"])) == sorted(
        [
            (f"app.{d}", "A", IPV4, 3600, False),
            (f"app.{d}", "AAAA", IPV6, 3600, False),
            (f"mail.{d}", "A", IPV4, 3600, False),
            (f"mail.{d}", "AAAA", IPV6, 3600, False),
            (d, "TXT", '"v=spf1 -all"', 3600, False),
            (f"ms202611._domainkey.{d}", "TXT", FAKE_DKIM, 3600, False),
            (f"bounce.{d}", "MX", "10 feedback-smtp.eu-central-1.amazonses.com", 3600, False),
            (f"bounce.{d}", "TXT", '"v=spf1 include:amazonses.com -all"', 3600, False),
            (
                f"_dmarc.{d}",
                "TXT",
                f'"v=DMARC1; p=quarantine; rua=mailto:dmarc@{d}; adkim=r; aspf=r"',
                3600,
                False,
            ),
            (d, "CAA", '0 issue "letsencrypt.org"', 3600, False),
            (d, "CAA", '0 issuewild ";"', 3600, False),
            (d, "CAA", f'0 iodef "mailto:dmarc@{d}"', 3600, False),
        ]
    )


def test_local_stack_has_no_dns(stack_runs: dict[str, Run]) -> None:
    assert not stack_runs["local"].of_type(DNS_RECORD)
    assert "dnsRecords" not in stack_runs["local"].outputs


def test_dns_provider_none_makes_no_records(run_stack: RunStack) -> None:
    run = run_stack("dev", set={"dnsProvider": "none"})
    assert not run.of_type(DNS_RECORD) and not dkim_keys(run)


def test_local_stack_never_imports_cloudflare() -> None:
    script = (
        "import sys\n"
        "from tests.conftest import stack_config\n"
        "from tools.harness import run_program\n"
        "run_program('local', *stack_config('local'))\n"
        "assert 'pulumi_cloudflare' not in sys.modules, 'local stack imported cloudflare'\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


# Every feature on at once: the configuration that stresses the invariants most.
EVERYTHING: dict[str, Any] = {
    "proxyWeb": True,
    "wwwRedirect": True,
    "receivesMail": True,
    "mtaSts": True,
    "mtaStsMode": "enforce",
    "tlsRptEmail": "tls-reports@example.net",
    "spfIncludes": ["_spf.example.net"],
    "spfServerIps": True,
    "nullMxNames": ["app.dev.example.com", "static.dev.example.com"],
    "dkimSelectors": ["ms202606", "ms202611"],
    "dmarcRuf": "forensic@dev.example.com",
}


@pytest.fixture(scope="module")
def everything() -> Run:
    from tools.harness import run_program

    return run_program("dev", *stack_config("dev", set=EVERYTHING))


@pytest.fixture(scope="module")
def ses_signs() -> Run:
    from tools.harness import run_program

    return run_program("dev", *stack_config("dev", set={**EVERYTHING, "sesDkimTokens": TOKENS}))


def all_runs(stack_runs: dict[str, Run], everything: Run, ses_signs: Run) -> list[Run]:
    return [stack_runs["dev"], stack_runs["prod"], everything, ses_signs]


def test_only_web_names_are_proxied_and_proxied_means_automatic_ttl(
    stack_runs: dict[str, Run], everything: Run, ses_signs: Run
) -> None:
    for run in all_runs(stack_runs, everything, ses_signs):
        for name, _, _, ttl, is_proxied in rows(run):
            if is_proxied:
                assert ttl == 1, name
            else:
                assert 60 <= ttl <= 86400, name  # Cloudflare's range for explicit TTLs
    proxied = {(n, t) for n, t, _, _, p in rows(everything) if p}
    assert proxied == {
        ("app.dev.example.com", "A"),
        ("app.dev.example.com", "AAAA"),
        ("www.dev.example.com", "CNAME"),
    }


def test_no_mail_name_is_proxied(
    stack_runs: dict[str, Run], everything: Run, ses_signs: Run
) -> None:
    for run in all_runs(stack_runs, everything, ses_signs):
        table = rows(run)
        mail_host = "mail.dev.example.com" if run.stack == "dev" else "mail.example.com"
        # The mail names: every MX target and the mail host (the PTR name).
        mail_names = {c.split()[1] for _, t, c, _, _ in table if t == "MX"} - {"."}
        mail_names.add(mail_host)
        assert {(n, t) for n, t, *_ in table if n == mail_host} >= {(mail_host, "A")}
        for name, type_, _, _, proxied in table:
            assert not (proxied and name in mail_names), (name, type_)
        for reg in run.of_type(DNS_RECORD):
            if reg.inputs["type"] in ("MX", "TXT", "CAA") or "_domainkey" in reg.inputs["name"]:
                assert not reg.inputs["proxied"], reg.name


def test_at_most_one_spf_record_per_name(
    stack_runs: dict[str, Run], everything: Run, ses_signs: Run
) -> None:
    for run in all_runs(stack_runs, everything, ses_signs):
        spf = Counter(n for n, t, c, _, _ in rows(run) if t == "TXT" and c.startswith('"v=spf1'))
        assert spf and max(spf.values()) == 1, spf


def test_every_record_has_zone_parent_and_is_deleted_before_replacement(
    stack_runs: dict[str, Run], everything: Run
) -> None:
    for run in (stack_runs["prod"], everything):
        (component,) = run.of_type("mailstack:dns:MailDomain")
        for reg in run.of_type(DNS_RECORD):
            assert reg.inputs["zoneId"] == "0123456789abcdef0123456789abcdef"
            assert reg.parent == component.urn
            assert reg.delete_before_replace, reg.name
            assert reg.name.startswith(f"{component.name}-")


def test_everything_record_set(everything: Run) -> None:
    d = "dev.example.com"
    table = {(n, t): c for n, t, c, _, _ in rows(everything) if t not in ("CAA", "TXT")}
    assert table[(f"www.{d}", "CNAME")] == f"app.{d}"
    assert table[(d, "MX")] == f"10 mail.{d}"
    assert table[(f"mta-sts.{d}", "CNAME")] == f"mail.{d}"
    assert table[(f"app.{d}", "MX")] == "0 ."
    assert table[(f"static.{d}", "MX")] == "0 ."
    txt = Counter((n, c) for n, t, c, _, _ in rows(everything) if t == "TXT")
    assert txt[(d, f'"v=spf1 include:_spf.example.net ip4:{IPV4} ip6:{IPV6} ~all"')] == 1
    assert txt[(f"app.{d}", '"v=spf1 -all"')] == 1
    assert txt[(f"ms202606._domainkey.{d}", FAKE_DKIM)] == 1
    assert txt[(f"ms202611._domainkey.{d}", FAKE_DKIM)] == 1
    assert txt[(f"_smtp._tls.{d}", '"v=TLSRPTv1; rua=mailto:tls-reports@example.net"')] == 1
    (dmarc,) = [c for n, c in txt if n == f"_dmarc.{d}"]
    assert f"ruf=mailto:forensic@{d}; fo=1" in dmarc
    (sts,) = [c for n, c in txt if n == f"_mta-sts.{d}"]
    assert sts.startswith('"v=STSv1; id=')
    policy = everything.artifacts["dns/mta-sts.txt"].text
    assert "mode: enforce\r\n" in policy and f"mx: mail.{d}\r\n" in policy


def test_mail_host_records_are_findable_by_name(stack_runs: dict[str, Run]) -> None:
    run = stack_runs["prod"]
    a, aaaa = run.named("mail-domain-mail-a"), run.named("mail-domain-mail-aaaa")
    assert (a.inputs["name"], a.inputs["type"], a.inputs["content"]) == (
        "mail.example.com",
        "A",
        IPV4,
    )
    assert (aaaa.inputs["name"], aaaa.inputs["content"]) == ("mail.example.com", IPV6)


def dkim_keys(run: Run) -> list[Registration]:
    return [k for k in run.of_type(PRIVATE_KEY) if k.inputs["algorithm"] == "RSA"]


def test_own_dkim_keys_are_rsa_2048_with_secret_private_outputs(everything: Run) -> None:
    keys = dkim_keys(everything)
    assert sorted(k.name for k in keys) == [
        "mail-domain-dkim-ms202606",
        "mail-domain-dkim-ms202611",
    ]
    for key in keys:
        assert key.inputs["algorithm"] == "RSA" and key.inputs["rsaBits"] == 2048
        assert {"privateKeyPem", "privateKeyPemPkcs8"} <= set(key.additional_secret_outputs)


def test_ses_signing_publishes_easy_dkim_cnames_and_makes_no_keys(ses_signs: Run) -> None:
    assert not dkim_keys(ses_signs)
    cnames = {(n, c) for n, t, c, _, _ in rows(ses_signs) if "_domainkey" in n}
    assert cnames == {
        (f"{t}._domainkey.dev.example.com", f"{t}.dkim.amazonses.com") for t in TOKENS
    }
    steps = "\n".join(ses_signs.outputs["manualSteps"])
    assert "Easy DKIM" in steps and "sesDkimTokens" in steps
    # No key of mailstack's signs, so none is handed out.
    assert "dkimSigning" not in ses_signs.outputs
    assert "ses-dkim" not in steps


def test_the_signing_key_is_exported_only_as_a_secret(stack_runs: dict[str, Run]) -> None:
    prod = stack_runs["prod"]
    assert "dkimSigning" in prod.secret_outputs
    assert prod.outputs["dkimSigning"]["selector"] == "ms202611"


def test_another_relay_is_told_to_sign_with_the_published_key(run_stack: RunStack) -> None:
    run = run_stack("dev", set={"mailRelay": "smtp", "smtpHost": "smtp.relay.example"})
    steps = "\n".join(run.outputs["manualSteps"])
    assert "DKIM passes only if the relay smtp.relay.example signs" in steps
    assert run.outputs["dkimSigning"]["sesRegion"] == ""


def test_records_output_lists_what_was_made(stack_runs: dict[str, Run]) -> None:
    run = stack_runs["prod"]
    listed = run.outputs["dnsRecords"]
    assert len(listed) == len(run.of_type(DNS_RECORD))
    assert {(r["name"], r["type"]) for r in listed} == {(n, t) for n, t, *_ in rows(run)}
    assert "dnsRecords" not in run.secret_outputs


def test_manual_steps_name_what_remains(stack_runs: dict[str, Run]) -> None:
    steps = "\n".join(stack_runs["prod"].outputs["manualSteps"])
    for needle in (
        "ports 25 and 465",
        "production access",
        "sandbox",
        "MAIL FROM domain to bounce.example.com",
        "postmaster@example.com",
        "abuse@example.com",
        "make ses-dkim STACK=prod",  # the stack by name, not a placeholder
        "dmarcPolicy: reject",
    ):
        assert needle in steps, needle


def test_dkim_private_key_reaches_the_signer_only_as_a_secret(
    run_component: Callable[..., Run],
) -> None:
    from components.dns import MailDomain
    from mailstack.wiring import mail_domain_args

    config = validate(*stack_config("prod"))

    def program() -> None:
        domain = MailDomain("md", mail_domain_args(config, "203.0.113.9", None))
        assert domain.dkim_selector == "ms202611"
        assert domain.dkim_signing is not None
        pulumi.export("signing", domain.dkim_signing)
        pulumi.export("records", domain.records)

    run = run_component(program, "prod")
    assert run.secret_outputs == {"signing"}
    signing = run.outputs["signing"]
    assert "fake key of md-dkim-ms202611" in signing["privateKeyPem"]
    assert {k: v for k, v in signing.items() if k != "privateKeyPem"} == {
        "domain": "example.com",
        "selector": "ms202611",
        "sesRegion": "eu-central-1",
    }
    for reg in run.of_type(DNS_RECORD):
        assert "PRIVATE KEY" not in str(reg.inputs)
    # Without IPv6 there is no AAAA anywhere.
    assert not [r for r in run.of_type(DNS_RECORD) if r.inputs["type"] == "AAAA"]


def test_records_follow_the_server_addresses(run_component: Callable[..., Run]) -> None:
    from components.dns import MailDomain
    from mailstack.wiring import mail_domain_args

    config = validate(*stack_config("dev", set={"spfServerIps": True}))
    ipv4 = pulumi.Output.from_input("203.0.113.77")

    run = run_component(
        lambda: MailDomain("md", mail_domain_args(config, ipv4, "2001:db8:77::1")), "dev"
    )
    assert run.named("md-mail-a").inputs["content"] == "203.0.113.77"
    assert run.named("md-app-aaaa").inputs["content"] == "2001:db8:77::1"
    assert (
        run.named("md-spf").inputs["content"] == '"v=spf1 ip4:203.0.113.77 ip6:2001:db8:77::1 ~all"'
    )


def _address_and_key_program(config_set: dict[str, Any]) -> tuple[Callable[[], None], str]:
    from components.dns import MailDomain
    from mailstack.wiring import mail_domain_args

    config = validate(*stack_config("prod", set=config_set))
    ipv4 = pulumi.Output.from_input("203.0.113.77")

    def program() -> None:
        MailDomain("md", mail_domain_args(config, ipv4, "2001:db8:77::1"))

    return program, "prod"


def test_only_the_dkim_records_depend_on_the_dkim_key(run_component: Callable[..., Run]) -> None:
    """The addresses, SPF (with the server's IPs) and the rest never wait for a key."""
    run = run_component(*_address_and_key_program({"spfServerIps": True}))
    (key,) = run.of_type(PRIVATE_KEY)
    records = {r.name: r for r in run.of_type(DNS_RECORD)}
    assert {"md-mail-a", "md-mail-aaaa", "md-app-a", "md-spf", "md-dkim-ms202611"} <= set(records)
    for name, reg in records.items():
        depends = set(reg.dependencies).union(*reg.property_dependencies.values())
        if name == "md-dkim-ms202611":
            assert reg.property_dependencies["content"] == [key.urn]
        else:
            assert key.urn not in depends, name


class _KeyAfterTheMailHost(MailstackMocks):
    """Holds the DKIM key's creation until the mail host's A record is registered:
    the key resolves late, as a slow provider's would."""

    def __init__(self) -> None:
        self.mail_host_registered = threading.Event()
        self.mail_host_came_first: bool | None = None

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == PRIVATE_KEY:
            # Bounded only so that a regression fails instead of hanging the run.
            self.mail_host_came_first = self.mail_host_registered.wait(timeout=60)
        result = super().new_resource(args)
        if (args.typ, args.name) == (DNS_RECORD, "md-mail-a"):
            self.mail_host_registered.set()
        return result


def test_the_mail_host_records_are_made_before_the_dkim_key_resolves() -> None:
    mocks = _KeyAfterTheMailHost()
    program, stack = _address_and_key_program({})
    run = run_program(stack, {}, set(), program=program, monitor=RecordingMonitor(mocks))
    # The A record was being created while the key was not: it did not wait for it.
    assert mocks.mail_host_came_first is True
    (dkim,) = [r for r in run.of_type(DNS_RECORD) if r.name == "md-dkim-ms202611"]
    assert dkim.inputs["content"] == FAKE_DKIM
