"""`make check STACK=x`: is what the stack expects actually published and working?

    python -m tools.check --stack prod [--build build/prod] [--nameserver IP] ...

Reads what the stack expects (`pulumi stack output --json`, or a synth's
build/<stack>/ with --build) and compares it with what the world sees: DNS
records (A/AAAA, MX, SPF with nested lookups counted, the DKIM key, DMARC,
CAA), the MTA-STS policy served over HTTPS, PTR against the A record, the
certificate of the app host, the health URL, DNS blocklists for the sending
IP, the SES identity, relay login on the submission port, backup freshness.
One line per check, `ok`, `warn` or `fail`, with the fix; the exit status is
1 when any check fails. Every server and port can be pointed elsewhere
(--nameserver, --dns-port, --blocklist, --connect, --smtp-host...), so the
check runs offline against local stand-ins.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import re
import shlex
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from components.mail_records import SPF_MAX_LOOKUPS, spf_lookup_count, txt_strings
from tools.stack_cli import StackError, config_secret, stack_name, stack_outputs

OK, WARN, FAIL = "ok", "warn", "fail"
DEFAULT_BLOCKLISTS = ("zen.spamhaus.org", "bl.spamcop.net")
CERT_WARN_DAYS = 21
"""Caddy renews 30 days before expiry: three weeks left means renewal is failing."""
CERT_FAIL_DAYS = 7
TIMEOUT = 10.0


@dataclass(frozen=True)
class Result:
    """One line of the report."""

    status: str
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text} -> fix: {self.fix}" if self.fix and self.status != OK else text


@dataclass(frozen=True)
class Relay:
    """The SMTP relay the app logs in to, as the stack config sets it."""

    kind: str
    """`ses`, `smtp` or `sink`."""
    host: str
    port: int
    username: str
    ses_region: str


@dataclass
class Expected:
    """What the stack says should be true."""

    stack: str
    outputs: dict[str, Any]
    ptr_name: str = ""
    """The PTR the stack set (from resources.json); empty when not known."""
    mta_sts_policy: str = ""
    """The policy the stack serves (from the synth's dns/mta-sts.txt); empty when not known."""
    relay: Relay | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.outputs.get("dnsRecords") or []
        return records

    @property
    def domain(self) -> str:
        for record in self.records:
            if record["name"].startswith("_dmarc."):
                return str(record["name"]).removeprefix("_dmarc.")
        return ""


@dataclass
class Endpoints:
    """Where each check looks: the real world by default, stand-ins in tests."""

    nameservers: list[str] = field(default_factory=list)
    """Resolver addresses; empty means the system's resolvers."""
    dns_port: int = 53
    blocklists: Sequence[str] = DEFAULT_BLOCKLISTS
    connect: dict[str, tuple[str, int]] = field(default_factory=dict)
    """host -> (address, port) for HTTPS, like curl's --connect-to."""
    ca_file: str | None = None
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_ca_file: str | None = None
    pulumi: str = "pulumi"
    aws: str = "aws"
    timeout: float = TIMEOUT


# --- DNS -------------------------------------------------------------------------


class Dns:
    """Lookups that report 'does not exist' as an empty list, and failures as DnsError."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.resolver = dns.resolver.Resolver(configure=not endpoints.nameservers)
        if endpoints.nameservers:
            self.resolver.nameservers = list(endpoints.nameservers)
        self.resolver.port = endpoints.dns_port
        self.resolver.lifetime = endpoints.timeout

    def query(self, name: str, rdtype: str) -> list[Any]:
        try:
            return list(self.resolver.resolve(name, rdtype, raise_on_no_answer=False))
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as err:
            raise DnsError(f"no answer for {name} {rdtype}: {err}") from None

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.query(name, "TXT")]


class DnsError(Exception):
    """No usable answer (timeout, SERVFAIL): the check cannot tell, so it warns."""


def _host(text: str) -> str:
    return text.rstrip(".").lower()


def normalize(rtype: str, content: str, priority: int | None = None) -> str:
    """An expected record's value in the form `published_values` gives it."""
    if rtype in ("A", "AAAA"):
        return str(ipaddress.ip_address(content))
    if rtype == "MX":
        return f"{priority if priority is not None else 10} {_host(content)}"
    if rtype == "TXT":
        return "".join(txt_strings(content))
    if rtype == "CNAME":
        return _host(content)
    return content


def published_values(resolver: Dns, name: str, rtype: str) -> list[str]:
    values = []
    for rdata in resolver.query(name, rtype):
        if rtype in ("A", "AAAA"):
            values.append(str(ipaddress.ip_address(rdata.address)))
        elif rtype == "MX":
            values.append(f"{rdata.preference} {_host(rdata.exchange.to_text())}")
        elif rtype == "TXT":
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rtype == "CNAME":
            values.append(_host(rdata.target.to_text()))
        elif rtype == "CAA":
            values.append(f'{rdata.flags} {rdata.tag.decode()} "{rdata.value.decode()}"')
        else:
            values.append(rdata.to_text())
    return values


def _record_kind(name: str, rtype: str, value: str) -> tuple[str, str]:
    """(check name, what a TXT value must start with to be 'the same record')."""
    if rtype == "TXT" and "._domainkey." in name:
        return f"dkim {name.split('.', 1)[0]}", "v=DKIM1"
    if rtype == "TXT" and value.startswith("v=spf1"):
        return f"spf {name}", "v=spf1"
    if rtype == "TXT" and name.startswith("_dmarc."):
        return "dmarc", "v=DMARC1"
    if rtype == "TXT" and name.startswith("_mta-sts."):
        return "mta-sts record", "v=STSv1"
    if rtype == "TXT" and name.startswith("_smtp._tls."):
        return "tls-rpt record", "v=TLSRPTv1"
    return f"{rtype} {name}", ""


def _kind_fix(check: str) -> str:
    if check.startswith("dkim"):
        return (
            "publish the stack's key (`pulumi up` re-creates the record); if SES signs with "
            "this selector, run `make ses-dkim` after the change"
        )
    return "run `pulumi up` (it re-creates the record), and remove hand-made records that clash"


def check_records(expected: Expected, resolver: Dns) -> list[Result]:
    """Every record the stack publishes, compared with what the name servers answer."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in expected.records:
        groups.setdefault((record["name"], record["type"]), []).append(record)
    results = []
    for (name, rtype), records in sorted(groups.items()):
        wanted = [normalize(rtype, r["content"], r.get("priority")) for r in records]
        try:
            have = published_values(resolver, name, rtype)
        except DnsError as err:
            results.append(Result(WARN, f"{rtype} {name}", str(err), "check the name servers"))
            continue
        if rtype == "TXT":
            # TXT names hold unrelated values too: compare only records of the same kind.
            for value in wanted:
                check, prefix = _record_kind(name, rtype, value)
                same_kind = [v for v in have if prefix and v.startswith(prefix)] if prefix else have
                results.append(_compare_one(check, name, value, same_kind, bool(prefix)))
            continue
        check = f"{rtype} {name}"
        missing = [v for v in wanted if v not in have]
        extra = [v for v in have if v not in wanted]
        if missing:
            got = ", ".join(have) or "nothing"
            results.append(
                Result(
                    FAIL,
                    check,
                    f"expected {', '.join(missing)}, published {got}",
                    f"publish `{name} {rtype} {missing[0]}`: {_kind_fix(check)}",
                )
            )
        elif extra and rtype in ("A", "AAAA", "MX"):
            results.append(
                Result(
                    WARN,
                    check,
                    f"also published: {', '.join(extra)}",
                    "remove records the stack does not manage",
                )
            )
        else:
            results.append(Result(OK, check, ", ".join(wanted)))
    return results


def _compare_one(check: str, name: str, value: str, have: list[str], single: bool) -> Result:
    short = value if len(value) <= 60 else value[:57] + "..."
    if not have:
        return Result(FAIL, check, f"no record at {name}", f"publish {short!r}: {_kind_fix(check)}")
    if value not in have:
        what = "key" if check.startswith("dkim") else "value"
        got = have[0] if len(have[0]) <= 60 else have[0][:57] + "..."
        return Result(
            FAIL,
            check,
            f"published {what} differs from the stack's: {got!r}",
            f"publish {short!r}: {_kind_fix(check)}",
        )
    if single and len(have) > 1:
        return Result(
            FAIL,
            check,
            f"{len(have)} records of this kind at {name}: receivers treat that as an error",
            "keep only the stack's record",
        )
    return Result(OK, check, short)


def spf_lookups(resolver: Dns, domain: str, seen: frozenset[str] = frozenset()) -> int:
    """DNS lookups one SPF evaluation of `domain` costs, nested includes and redirects counted."""
    records = [t for t in resolver.txt(domain) if t.startswith("v=spf1")]
    if len(records) != 1:
        raise DnsError(f"{domain} has {len(records)} SPF records, expected 1")
    total = spf_lookup_count(records[0])
    for term in records[0].split()[1:]:
        body = term.lstrip("+-~?")
        target = ""
        if body.lower().startswith("include:"):
            target = body.split(":", 1)[1]
        elif body.lower().startswith("redirect="):
            target = body.split("=", 1)[1]
        if target:
            if target in seen or total > SPF_MAX_LOOKUPS:
                # A loop is a permerror anyway; stop counting past the limit.
                return SPF_MAX_LOOKUPS + 1
            total += spf_lookups(resolver, target, seen | {domain})
    return total


def check_spf_lookups(expected: Expected, resolver: Dns) -> list[Result]:
    names = sorted(
        {
            r["name"]
            for r in expected.records
            if r["type"] == "TXT" and "".join(txt_strings(r["content"])).startswith("v=spf1")
        }
    )
    results = []
    for name in names:
        check = f"spf lookups {name}"
        try:
            count = spf_lookups(resolver, name)
        except DnsError as err:
            results.append(Result(FAIL, check, str(err), "publish exactly one SPF record"))
            continue
        if count > SPF_MAX_LOOKUPS:
            results.append(
                Result(
                    FAIL,
                    check,
                    f"evaluating it takes {count} DNS lookups, more than the RFC 7208 limit of "
                    f"{SPF_MAX_LOOKUPS}: receivers answer permerror and SPF fails",
                    "flatten includes into ip4:/ip6: terms or drop unused ones",
                )
            )
        else:
            results.append(Result(OK, check, f"{count} of {SPF_MAX_LOOKUPS} lookups"))
    return results


def _reverse(address: str) -> str:
    return dns.reversename.from_address(address).to_text()


def check_ptr(expected: Expected, resolver: Dns) -> list[Result]:
    """Forward-confirmed reverse DNS: the PTR names a host whose A/AAAA is this address."""
    results = []
    names = {_host(r["name"]) for r in expected.records}
    for key, rtype in (("serverIpv4", "A"), ("serverIpv6", "AAAA")):
        address = expected.outputs.get(key)
        if not address:
            continue
        check = f"ptr {address}"
        want = _host(expected.ptr_name) if expected.ptr_name else ""
        try:
            ptrs = [_host(r.target.to_text()) for r in resolver.query(_reverse(address), "PTR")]
            if not ptrs:
                results.append(
                    Result(
                        FAIL,
                        check,
                        "no PTR record",
                        "set the server's reverse DNS (hcloud rdns; `pulumi up` sets it)",
                    )
                )
                continue
            ptr = ptrs[0]
            if want and ptr != want:
                results.append(
                    Result(
                        FAIL,
                        check,
                        f"PTR is {ptr}, the stack sets {want}",
                        "run `pulumi up` (it sets the server's rdns)",
                    )
                )
                continue
            forward = published_values(resolver, ptr, rtype)
        except DnsError as err:
            results.append(Result(WARN, check, str(err), "check the name servers"))
            continue
        if str(ipaddress.ip_address(address)) not in forward:
            results.append(
                Result(
                    FAIL,
                    check,
                    f"PTR {ptr} resolves to {', '.join(forward) or 'nothing'}, not {address}",
                    f"point {ptr} {rtype} at {address} or the PTR at the mail host",
                )
            )
        elif not want and ptr not in names:
            results.append(
                Result(WARN, check, f"PTR {ptr} is not one of the stack's names", "set the rdns")
            )
        else:
            results.append(Result(OK, check, f"{ptr}, forward-confirmed"))
    return results


def check_blocklists(expected: Expected, resolver: Dns, zones: Iterable[str]) -> list[Result]:
    address = expected.outputs.get("serverIpv4")
    if not address:
        return []
    reversed_ip = ".".join(reversed(address.split(".")))
    results = []
    for zone in zones:
        check = f"blocklist {zone}"
        try:
            answers = [r.address for r in resolver.query(f"{reversed_ip}.{zone}", "A")]
        except DnsError as err:
            results.append(Result(WARN, check, str(err), "query it from another resolver"))
            continue
        if not answers:
            results.append(Result(OK, check, f"{address} not listed"))
        elif all(a.startswith("127.255.255.") for a in answers):
            # Spamhaus answers 127.255.255.x to queries it refuses (public resolvers).
            results.append(
                Result(
                    WARN,
                    check,
                    f"the list refused the query ({', '.join(answers)})",
                    "use a resolver of your own (--nameserver), not a public one",
                )
            )
        else:
            results.append(
                Result(
                    FAIL,
                    check,
                    f"{address} is listed ({', '.join(sorted(answers))})",
                    f"find the cause (open relay, leaked credentials) and request delisting "
                    f"at the operator of {zone}",
                )
            )
    return results


# --- HTTPS -------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpsAnswer:
    status: int
    body: str
    not_after: float
    """The certificate's expiry, seconds since the epoch."""


def https_get(url: str, endpoints: Endpoints) -> HttpsAnswer:
    """GET over verified TLS; raises OSError/ssl.SSLError/http.client errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    address, port = endpoints.connect.get(host, (host, parts.port or 443))
    context = ssl.create_default_context(cafile=endpoints.ca_file)
    raw = socket.create_connection((address, port), timeout=endpoints.timeout)
    sock = context.wrap_socket(raw, server_hostname=host)
    cert = sock.getpeercert() or {}
    conn = http.client.HTTPSConnection(host, port, timeout=endpoints.timeout, context=context)
    conn.sock = sock
    try:
        conn.request("GET", parts.path or "/", headers={"Host": host})
        response = conn.getresponse()
        body = response.read(65536).decode("utf-8", "replace")
    finally:
        conn.close()
    not_after = ssl.cert_time_to_seconds(str(cert["notAfter"]))
    return HttpsAnswer(response.status, body, not_after)


def check_app_https(expected: Expected, endpoints: Endpoints, now: float) -> list[Result]:
    url = expected.outputs.get("healthUrl") or expected.outputs.get("appUrl")
    if not url or not str(url).startswith("https://"):
        return [Result(OK, "https", f"no public HTTPS URL ({url or 'none'}); nothing to check")]
    host = urlsplit(url).hostname
    try:
        answer = https_get(url, endpoints)
    except ssl.SSLCertVerificationError as err:
        return [
            Result(
                FAIL,
                f"certificate {host}",
                f"not valid: {err.verify_message}",
                "look at the proxy's logs (`make logs SERVICE=proxy`): ACME issuance is failing",
            )
        ]
    except (OSError, http.client.HTTPException) as err:
        return [
            Result(
                FAIL,
                f"https {host}",
                f"cannot fetch {url}: {err}",
                "is the server up and port 443 open (`make status`)?",
            )
        ]
    days = int((answer.not_after - now) // 86400)
    results = []
    if days < CERT_FAIL_DAYS:
        status = FAIL
    elif days < CERT_WARN_DAYS:
        status = WARN
    else:
        status = OK
    results.append(
        Result(
            status,
            f"certificate {host}",
            f"expires in {days} days",
            "renewal is failing: look at the proxy's logs (`make logs SERVICE=proxy`)",
        )
    )
    healthy = 200 <= answer.status < 400
    results.append(
        Result(
            OK if healthy else FAIL,
            "health",
            f"{url} answers {answer.status}",
            "look at the app (`make status`, `make logs SERVICE=app`)",
        )
    )
    return results


def parse_mta_sts(text: str) -> dict[str, list[str]]:
    """RFC 8461 §3.2 key: value lines (mx may repeat)."""
    fields: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def _mx_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.count(".") >= pattern.count(".") and host.endswith(pattern[1:])
    return host == pattern


def check_mta_sts(expected: Expected, resolver: Dns, endpoints: Endpoints) -> list[Result]:
    domain = expected.domain
    announced = any(r["name"] == f"_mta-sts.{domain}" for r in expected.records)
    if not domain or not announced:
        return []
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    fix = "run `pulumi up` (the proxy serves the policy) and look at `make logs SERVICE=proxy`"
    try:
        answer = https_get(url, endpoints)
    except (OSError, http.client.HTTPException) as err:
        return [Result(FAIL, "mta-sts policy", f"cannot fetch {url}: {err}", fix)]
    if answer.status != 200:
        return [Result(FAIL, "mta-sts policy", f"{url} answers {answer.status}", fix)]
    policy = parse_mta_sts(answer.body)
    problems = []
    if policy.get("version") != ["STSv1"]:
        problems.append("version is not STSv1")
    if (policy.get("mode") or [""])[0] not in ("enforce", "testing", "none"):
        problems.append("mode is missing or unknown")
    if not re.fullmatch(r"[0-9]{1,10}", (policy.get("max_age") or [""])[0]):
        problems.append("max_age is missing")
    try:
        mx_hosts = [v.split()[1] for v in published_values(resolver, domain, "MX")]
    except DnsError:
        mx_hosts = []
    patterns = policy.get("mx", [])
    for host in mx_hosts:
        if not any(_mx_matches(p.lower(), host) for p in patterns):
            problems.append(f"MX {host} is not in the policy")
    if expected.mta_sts_policy and parse_mta_sts(expected.mta_sts_policy) != policy:
        problems.append("it differs from the stack's policy")
    if problems:
        return [Result(FAIL, "mta-sts policy", "; ".join(problems), fix)]
    return [Result(OK, "mta-sts policy", f"mode {policy['mode'][0]}, mx {', '.join(patterns)}")]


# --- relay, SES, backup ----------------------------------------------------------------


def check_relay(expected: Expected, endpoints: Endpoints) -> list[Result]:
    relay = expected.relay
    if relay is None or relay.kind == "sink":
        return []
    host = endpoints.smtp_host or relay.host
    port = endpoints.smtp_port or relay.port
    check = f"relay {relay.host}:{relay.port}"
    try:
        password = config_secret(endpoints.pulumi, expected.stack, "mailstack:smtpPassword")
    except StackError as err:
        return [Result(WARN, check, f"cannot read smtpPassword: {err}", "set it in the stack")]
    context = ssl.create_default_context(cafile=endpoints.smtp_ca_file)
    try:
        with smtplib.SMTP(timeout=endpoints.timeout) as smtp:
            # STARTTLS verifies the certificate against `_host`: the relay's name,
            # even when --smtp-host connects to a stand-in's address.
            smtp._host = relay.host  # type: ignore[attr-defined]
            smtp.connect(host, port)
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
            smtp.login(relay.username, password)
    except smtplib.SMTPAuthenticationError as err:
        return [
            Result(
                FAIL,
                check,
                f"login as {relay.username} refused ({err.smtp_code})",
                "set the relay's current credentials: `pulumi config set --secret smtpPassword` "
                "and `smtpUsername`, then `pulumi up`",
            )
        ]
    except (OSError, smtplib.SMTPException) as err:
        return [
            Result(
                FAIL,
                check,
                f"STARTTLS login failed: {err}",
                "check smtpHost/smtpPort and that outbound 587 is open",
            )
        ]
    return [Result(OK, check, f"STARTTLS and login as {relay.username} accepted")]


def check_ses(expected: Expected, endpoints: Endpoints) -> list[Result]:
    relay = expected.relay
    if relay is None or relay.kind != "ses" or not expected.domain:
        return []
    check = f"ses identity {expected.domain}"
    if shutil.which(endpoints.aws) is None:
        return [Result(WARN, check, "the AWS CLI is not installed: not checked", "install it")]
    argv = [endpoints.aws, "sesv2", "get-email-identity", "--email-identity", expected.domain]
    try:
        result = subprocess.run(
            [*argv, "--region", relay.ses_region, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return [Result(WARN, check, "the AWS CLI did not answer", "retry")]
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no message"])[-1]
        fix = "run `make ses-dkim` (it creates the identity)"
        if "NotFound" not in message:
            fix = "check the AWS credentials"
        return [Result(FAIL, check, f"cannot read it: {message}", fix)]
    try:
        identity = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [Result(WARN, check, "the AWS CLI did not print JSON", "retry")]
    sending = identity.get("VerifiedForSendingStatus") is True
    dkim = (identity.get("DkimAttributes") or {}).get("Status", "missing")
    if sending and dkim == "SUCCESS":
        return [Result(OK, check, "verified for sending, DKIM SUCCESS")]
    return [
        Result(
            FAIL,
            check,
            f"verified for sending: {sending}, DKIM: {dkim}",
            "run `make ses-dkim` and wait for SES to find the DKIM record",
        )
    ]


def check_backup(expected: Expected, timeout: float) -> list[Result]:
    backup = expected.outputs.get("backup") or {}
    if not backup.get("enabled"):
        return [Result(WARN, "backup", "backups are off for this stack", "set `backupRepository`")]
    command = str(backup.get("statusCommand") or "")
    if not command:
        return [Result(WARN, "backup", "the stack has no backup status command", "`pulumi up`")]
    try:
        result = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=max(timeout, 60)
        )
    except FileNotFoundError:
        return [Result(WARN, "backup", f"cannot run {command.split()[0]!r}", "install OpenSSH")]
    except subprocess.TimeoutExpired:
        return [Result(FAIL, "backup", "the status command did not answer", "check SSH access")]
    text = (result.stdout.strip() or result.stderr.strip() or "(no output)").splitlines()[0]
    if result.returncode == 0:
        return [Result(OK, "backup", text)]
    if result.returncode == 255:
        return [
            Result(
                WARN,
                "backup",
                f"SSH failed: {text}",
                "run it from an admin CIDR with the stack's SSH key",
            )
        ]
    return [
        Result(
            FAIL,
            "backup",
            text,
            "look at `make logs SERVICE=...` and `journalctl -u mailstack-backup` on the host",
        )
    ]


# --- loading the expectation ---------------------------------------------------------


def relay_from_config(values: Mapping[str, str]) -> Relay:
    """The relay from the stack's raw config (`mailstack:` keys, as the CLI passes them)."""

    def get(key: str, default: str = "") -> str:
        return str(values.get(f"mailstack:{key}", default))

    kind = get("mailRelay", "ses")
    region = get("sesRegion", "eu-central-1")
    host = get("smtpHost") or (f"email-smtp.{region}.amazonaws.com" if kind == "ses" else "")
    port = get("smtpPort", "587")
    return Relay(kind, host, int(port) if port.isdigit() else 587, get("smtpUsername"), region)


def load_build(stack: str, build: Path) -> Expected:
    """The expectation from a synth's build/<stack>/ (outputs.json, resources.json)."""
    try:
        outputs = json.loads((build / "outputs.json").read_text())
        resources = json.loads((build / "resources.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StackError(f"cannot read the synth in {build}: {err}; run `make synth`") from None
    ptr = ""
    for resource in resources:
        if resource["type"] == "hcloud:index/rdns:Rdns" and resource["name"].endswith("-ipv4"):
            ptr = str(resource["inputs"].get("dnsPtr", ""))
    policy_file = build / "dns" / "mta-sts.txt"
    policy = policy_file.read_text() if policy_file.exists() else ""
    return Expected(stack, outputs, ptr_name=ptr, mta_sts_policy=policy)


def stack_relay(stack: str) -> Relay | None:
    from tools.harness import ROOT, read_stack_config

    if not (ROOT / f"Pulumi.{stack}.yaml").exists():
        return None
    values, _ = read_stack_config(stack)
    return relay_from_config(values)


def run_checks(expected: Expected, endpoints: Endpoints, now: float) -> list[Result]:
    if expected.outputs.get("target") == "local":
        return [Result(OK, "stack", f"{expected.stack} runs locally: nothing is published")]
    resolver = Dns(endpoints)
    results: list[Result] = []
    if not expected.records:
        results.append(Result(WARN, "dns", "the stack publishes no DNS records", "`dnsProvider`"))
    steps: list[Callable[[], list[Result]]] = [
        lambda: check_records(expected, resolver),
        lambda: check_spf_lookups(expected, resolver),
        lambda: check_ptr(expected, resolver),
        lambda: check_mta_sts(expected, resolver, endpoints),
        lambda: check_app_https(expected, endpoints, now),
        lambda: check_blocklists(expected, resolver, endpoints.blocklists),
        lambda: check_ses(expected, endpoints),
        lambda: check_relay(expected, endpoints),
        lambda: check_backup(expected, endpoints.timeout),
    ]
    for step in steps:
        results.extend(step())
    return results


def _connect_to(text: str) -> tuple[str, tuple[str, int]]:
    match = re.fullmatch(r"([A-Za-z0-9.-]+)=([0-9A-Fa-f.:]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST=ADDRESS:PORT")
    return match.group(1).lower(), (match.group(2).strip("[]"), int(match.group(3)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, type=stack_name)
    parser.add_argument("--build", type=Path, help="read a synth's build/<stack>/ instead")
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI (default: pulumi)")
    parser.add_argument("--aws", default="aws", help="the AWS CLI (default: aws)")
    parser.add_argument("--nameserver", action="append", default=[], help="resolver address")
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--blocklist", action="append", help="DNSBL zone (repeatable)")
    parser.add_argument("--connect", action="append", type=_connect_to, default=[])
    parser.add_argument("--ca-file", help="CA bundle for HTTPS (default: the system's)")
    parser.add_argument("--smtp-host", default="", help="relay address to connect to")
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument("--smtp-ca-file", help="CA bundle for the relay's certificate")
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    args = parser.parse_args(argv)
    endpoints = Endpoints(
        nameservers=args.nameserver,
        dns_port=args.dns_port,
        blocklists=args.blocklist or DEFAULT_BLOCKLISTS,
        connect=dict(args.connect),
        ca_file=args.ca_file,
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        smtp_ca_file=args.smtp_ca_file,
        pulumi=args.pulumi,
        aws=args.aws,
        timeout=args.timeout,
    )
    try:
        if args.build:
            expected = load_build(args.stack, args.build)
        else:
            expected = Expected(args.stack, stack_outputs(args.pulumi, args.stack))
        expected.relay = stack_relay(args.stack)
    except StackError as err:
        print(f"check: {err}", file=sys.stderr)
        return 2
    results = run_checks(expected, endpoints, time.time())
    for result in results:
        print(result.line())
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    print(f"{len(results)} checks: {failed} failed, {warned} warnings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
