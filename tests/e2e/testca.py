"""A throwaway certificate authority for e2e targets that speak TLS.

The probes check certificates as on a server (against the system's roots);
the e2e gives a target a certificate from this CA and the prober a CA bundle
holding only this CA, so a probe succeeds only through a real, verified TLS
handshake with that name.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Issued:
    ca: Path
    """The CA's certificate (PEM): the bundle a client trusts."""
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    # The containers run as nobody: the test key must be readable by it.
    path.chmod(0o644)


def issue(directory: Path, dns_name: str) -> Issued:
    """A new CA and a certificate for `dns_name` signed by it, as PEM files in
    `directory`; the ones already there if it has them (running containers
    hold them: a new CA would no longer match)."""
    issued = Issued(
        directory / "ca.pem", directory / f"{dns_name}.pem", directory / f"{dns_name}-key.pem"
    )
    if all(path.exists() for path in (issued.ca, issued.cert, issued.key)):
        return issued
    directory.mkdir(mode=0o755, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("mailstack e2e test CA"))
        .issuer_name(_name("mailstack e2e test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(issued.key, key_pem)
    _write(issued.cert, cert.public_bytes(pem))
    _write(issued.ca, ca.public_bytes(pem))
    return issued
