"""`make check` against stand-ins: a local authoritative DNS server, an HTTPS
server, an SMTP relay with STARTTLS and AUTH, and fake pulumi/aws/ssh.

The expectation is a synth of prod that receives mail (MX, MTA-STS). The
correct world passes every check; the broken world plants one fault per
check, and each must be named, and nothing else.
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.reversename
import dns.zone
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from components.mail_records import txt_content
from tests.dns_server import ZoneServer, free_port, zone_from_text
from tests.fake_ops import FakeOps
from tools import check
from tools.harness import ROOT, read_stack_config, run_program
from tools.stack_cli import StackError
from tools.synth import with_placeholder_secrets, write_build

RELAY_HOST = "email-smtp.eu-central-1.amazonaws.com"
SMTP_USER = "AKIAEXAMPLESMTPUSER"  # Pulumi.prod.yaml's smtpUsername
PASSWORD = "relay-password-4f1c"
IPV4 = "203.0.113.29"
HOSTS = ["app.example.com", "mta-sts.example.com", RELAY_HOST]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config, secret_keys = read_stack_config("prod")
    with_placeholder_secrets(config, secret_keys)
    config["mailstack:receivesMail"] = "true"
    config["mailstack:mtaSts"] = "true"
    out = tmp_path_factory.mktemp("synth") / "prod"
    write_build(run_program("prod", config, secret_keys), out)
    return out


# --- TLS material -----------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass
class Pki:
    ca_file: Path
    good: ssl.SSLContext
    expiring: ssl.SSLContext


def _server_context(
    tmp: Path, label: str, ca_key: ec.EllipticCurvePrivateKey, days: int
) -> ssl.SSLContext:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOSTS[0]))
        .issuer_name(_name("mailstack test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / f"{label}.crt", tmp / f"{label}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("mailstack test CA"))
        .issuer_name(_name("mailstack test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return Pki(
        ca_file,
        _server_context(tmp, "good", ca_key, 90),
        _server_context(tmp, "expiring", ca_key, 3),
    )


# --- the worlds -------------------------------------------------------------------


def _zone_line(record: dict[str, object]) -> str:
    rtype, content = record["type"], str(record["content"])
    if rtype == "MX":
        content = f"{record['priority']} {content}."
    elif rtype == "CNAME":
        content += "."
    return f"{record['name']}. {record['ttl']} IN {rtype} {content}"


def _other_dkim_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    return txt_content(f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")


def zones(outputs: dict[str, object], broken: bool) -> list[dns.zone.Zone]:
    records = list(outputs["dnsRecords"])  # type: ignore[call-overload]
    lines = []
    for record in records:
        name, rtype = record["name"], record["type"]
        if broken and name == "_dmarc.example.com":
            continue  # fault: DMARC missing
        if broken and (name, rtype) == ("example.com", "MX"):
            continue  # fault: no MX although the stack receives mail
        if broken and "._domainkey." in name:
            record = {**record, "content": _other_dkim_key()}  # fault: another key
        lines.append(_zone_line(record))
    example = zone_from_text("example.com.", "\n".join(lines))
    if broken:
        # fault: amazonses.com's SPF costs 11 more lookups (12 in all with the include).
        includes = " ".join(f"include:s{i}.amazonses.com" for i in range(11))
        ses_lines = [f"@ TXT {txt_content(f'v=spf1 {includes} -all')}"]
        ses_lines += [f's{i} TXT "v=spf1 ip4:192.0.2.{i} -all"' for i in range(11)]
    else:
        ses_lines = ['@ TXT "v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all"']
    ses = zone_from_text("amazonses.com.", "\n".join(ses_lines))
    ptr4 = "static.29.113.0.203.clients.your-server.de." if broken else "mail.example.com."
    reverse = zone_from_text(
        "arpa.",
        f"29.113.0.203.in-addr.arpa. PTR {ptr4}\n"
        + f"{dns.reversename.from_address('2001:db8:e3ce::1')} PTR mail.example.com.\n",
    )
    listed = '29.113.0.203 A 127.0.0.2\n29.113.0.203 TXT "listed for the test"\n'
    blocklist = zone_from_text("bl.test.", listed if broken else "")
    return [example, ses, reverse, blocklist]


class _Policy(http.server.BaseHTTPRequestHandler):
    policy = ""

    def do_GET(self) -> None:
        body = (self.policy if self.path == "/.well-known/mta-sts.txt" else "ok").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class World:
    dns_port: int
    https_port: int
    smtp_port: int


@pytest.fixture
def world(
    request: pytest.FixtureRequest, build: Path, pki: Pki, tmp_path: Path
) -> Iterator[tuple[World, FakeOps]]:
    broken: bool = request.param
    outputs = json.loads((build / "outputs.json").read_text())
    policy = (build / "dns" / "mta-sts.txt").read_text()
    if broken:
        policy = policy.replace("mx: mail.example.com", "mx: mail.other.example")

    handler = type("Handler", (_Policy,), {"policy": policy})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = pki.expiring if broken else pki.good
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def authenticate(*args: object) -> AuthResult:
        data = args[-1]
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    smtp = Controller(
        object(),
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=pki.good,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )
    smtp.start()

    fakes = FakeOps.create(tmp_path / "fakes")
    given = "wrong-password" if broken else PASSWORD
    fakes.rule("pulumi", ["config", "get", "mailstack:smtpPassword"], stdout=given + "\n")
    fakes.rule("pulumi", ["stack", "output", "--json"], stdout=json.dumps(outputs))
    identity = {
        "VerifiedForSendingStatus": not broken,
        "DkimAttributes": {"Status": "PENDING" if broken else "SUCCESS"},
    }
    fakes.rule("aws", ["sesv2", "get-email-identity"], stdout=json.dumps(identity))
    if broken:
        fakes.rule("ssh", [], stdout="backup STALE: last success 31h ago\n", rc=1)
    else:
        fakes.rule("ssh", [], stdout="backup ok: last success 2h ago\n")

    with ZoneServer(zones(outputs, broken)) as dns:
        yield World(dns.port, httpd.server_address[1], smtp.port), fakes
    smtp.stop()
    httpd.shutdown()
    httpd.server_close()


def run_check(
    world: World, fakes: FakeOps, build: Path, pki: Pki, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "tools.check", "--stack", "prod", "--build", str(build),
        "--pulumi", str(fakes.bin / "pulumi"), "--aws", str(fakes.bin / "aws"),
        "--nameserver", "127.0.0.1", "--dns-port", str(world.dns_port),
        "--blocklist", "bl.test", "--ca-file", str(pki.ca_file),
        "--connect", f"app.example.com=127.0.0.1:{world.https_port}",
        "--connect", f"mta-sts.example.com=127.0.0.1:{world.https_port}",
        "--smtp-host", "127.0.0.1", "--smtp-port", str(world.smtp_port),
        "--smtp-ca-file", str(pki.ca_file), "--timeout", "5", *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, env=fakes.env(), cwd=ROOT)


def statuses(stdout: str) -> dict[str, str]:
    """check name -> status, from the report lines."""
    found = {}
    for line in stdout.splitlines()[:-1]:
        status, rest = line.split(None, 1)
        found[rest.split(": ", 1)[0]] = status
    return found


@pytest.mark.parametrize("world", [False], indirect=True)
def test_correct_world_passes_every_check(
    world: tuple[World, FakeOps], build: Path, pki: Pki
) -> None:
    endpoints, fakes = world
    result = run_check(endpoints, fakes, build, pki)
    assert result.returncode == 0, result.stdout + result.stderr
    found = statuses(result.stdout)
    assert set(found.values()) == {"ok"}, result.stdout
    for name in (
        "dkim ms202611",
        "spf example.com",
        "spf lookups bounce.example.com",
        "dmarc",
        "MX example.com",
        "mta-sts policy",
        "ptr 203.0.113.29",
        "ptr 2001:db8:e3ce::1",
        "certificate app.example.com",
        "health",
        "blocklist bl.test",
        "ses identity example.com",
        f"relay {RELAY_HOST}:587",
        "backup",
    ):
        assert name in found, f"{name} not checked:\n{result.stdout}"
    assert PASSWORD not in result.stdout + result.stderr
    # The password came from the stack's secret, the identity from SES, freshness over SSH.
    assert ["config", "get", "mailstack:smtpPassword", "--stack", "prod"] in [
        c["argv"] for c in fakes.calls("pulumi")
    ]
    ssh = fakes.calls("ssh")
    assert [c["argv"] for c in ssh] == [
        ["-p", "22", f"mailadmin@{IPV4}", "sudo", "/usr/local/sbin/mailstack-backup-status"]
    ]


PLANTED = {
    "dkim ms202611": "differs from the stack's",
    "spf lookups bounce.example.com": "12 DNS lookups",
    "dmarc": "no record at _dmarc.example.com",
    "MX example.com": "published nothing",
    "mta-sts policy": "differs from the stack's policy",
    "ptr 203.0.113.29": "the stack sets mail.example.com",
    "certificate app.example.com": "expires in 2 days",
    "blocklist bl.test": "is listed (127.0.0.2)",
    "ses identity example.com": "DKIM: PENDING",
    f"relay {RELAY_HOST}:587": f"login as {SMTP_USER} refused (535)",
    "backup": "backup STALE",
}


@pytest.mark.parametrize("world", [True], indirect=True)
def test_broken_world_names_each_planted_fault(
    world: tuple[World, FakeOps], build: Path, pki: Pki
) -> None:
    endpoints, fakes = world
    result = run_check(endpoints, fakes, build, pki)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = statuses(result.stdout)
    failed = {name for name, status in found.items() if status == "fail"}
    assert failed == set(PLANTED), result.stdout
    lines = {
        line.split(": ", 1)[0].split(None, 1)[1]: line for line in result.stdout.splitlines()[:-1]
    }
    for name, detail in PLANTED.items():
        assert detail in lines[name], lines[name]
        assert "-> fix: " in lines[name]
    assert "wrong-password" not in result.stdout + result.stderr


def test_missing_pulumi_cli_is_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.check", "--stack", "prod", "--pulumi", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "the Pulumi CLI" in result.stderr and "not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_stack_is_a_clear_message(tmp_path: Path) -> None:
    fakes = FakeOps.create(tmp_path / "fakes")
    fakes.rule("pulumi", ["stack", "output"], stderr="error: no stack named 'nope' found\n", rc=255)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.check",
            "--stack",
            "nope",
            "--pulumi",
            str(fakes.bin / "pulumi"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fakes.env(),
    )
    assert result.returncode == 2
    assert "no stack named 'nope' found" in result.stderr
    assert "pulumi stack ls" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_synth_that_is_not_there_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="make synth"):
        check.load_build("prod", tmp_path / "missing")


def test_make_check_reads_the_stack_named_on_its_command_line(tmp_path: Path) -> None:
    fakes = FakeOps.create(tmp_path / "fakes")
    result = subprocess.run(
        ["make", "--no-print-directory", "check", f"PY={sys.executable}", "STACK=a;b"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fakes.env(),
    )
    assert result.returncode != 0
    assert "'a;b' is not a stack name" in result.stderr
    assert "Traceback" not in result.stderr
    assert fakes.calls("pulumi") == []
