"""SSH public keys: every type OpenSSH accepts, parsed for real, and which go to Hetzner.

The keys are made here: ssh-keygen for the plain types. ssh-keygen cannot make
a security-key (sk-) key without the hardware, so those are assembled in
OpenSSH's wire format from a fresh key, and ssh-keygen itself is asked to
read them (`ssh-keygen -l`) before the config sees them.
"""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import TypeAdapter, ValidationError

from components.hetzner_keys import hetzner_accepts
from mailstack.config.types import SSH_KEY_TYPES, SshPublicKey
from tests.conftest import RunStack

pytestmark = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen")

KEY = TypeAdapter(SshPublicKey)


def keygen(tmp_path: Path, *args: str) -> str:
    path = tmp_path / f"key{len(list(tmp_path.iterdir()))}"
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-C", "you@laptop", "-f", str(path), *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_suffix(".pub").read_text()


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def sk_ed25519() -> str:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    blob = _string(b"sk-ssh-ed25519@openssh.com") + _string(raw) + _string(b"ssh:")
    return f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} you@yubikey\n"


def sk_ecdsa() -> str:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    kind = b"sk-ecdsa-sha2-nistp256@openssh.com"
    blob = _string(kind) + _string(b"nistp256") + _string(point) + _string(b"ssh:")
    return f"{kind.decode()} {base64.b64encode(blob).decode()} you@yubikey\n"


def openssh_reads(tmp_path: Path, line: str) -> bool:
    path = tmp_path / "check.pub"
    path.write_text(line)
    return (
        subprocess.run(["ssh-keygen", "-l", "-f", str(path)], capture_output=True).returncode == 0
    )


KEYGEN_TYPES = {
    "ssh-ed25519": ("-t", "ed25519"),
    "ssh-rsa": ("-t", "rsa", "-b", "3072"),
    "ecdsa-sha2-nistp256": ("-t", "ecdsa", "-b", "256"),
    "ecdsa-sha2-nistp384": ("-t", "ecdsa", "-b", "384"),
    "ecdsa-sha2-nistp521": ("-t", "ecdsa", "-b", "521"),
}
SK_TYPES = {
    "sk-ssh-ed25519@openssh.com": sk_ed25519,
    "sk-ecdsa-sha2-nistp256@openssh.com": sk_ecdsa,
}


def test_every_openssh_type_is_covered() -> None:
    assert set(KEYGEN_TYPES) | set(SK_TYPES) == set(SSH_KEY_TYPES)


@pytest.mark.parametrize("kind", sorted(KEYGEN_TYPES))
def test_ssh_keygen_keys_pass(tmp_path: Path, kind: str) -> None:
    line = keygen(tmp_path, *KEYGEN_TYPES[kind])
    assert line.startswith(f"{kind} ")
    assert KEY.validate_python(line) == line.strip()


@pytest.mark.parametrize("kind", sorted(SK_TYPES))
def test_security_keys_pass(tmp_path: Path, kind: str) -> None:
    line = SK_TYPES[kind]()
    assert openssh_reads(tmp_path, line), "ssh-keygen does not read the assembled key"
    assert KEY.validate_python(line) == line.strip()


def _relabel(line: str, kind: str) -> str:
    return " ".join([kind, *line.split()[1:]])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # The blob's own type must be the one the line names.
        (lambda p: _relabel(keygen(p, "-t", "ed25519"), "ecdsa-sha2-nistp256"), "not a valid"),
        (lambda p: _relabel(sk_ed25519(), "ssh-ed25519"), "not a valid"),
        (lambda p: _relabel(sk_ecdsa(), "sk-ssh-ed25519@openssh.com"), "not a valid"),
        (lambda p: keygen(p, "-t", "dsa"), "'ssh-dss' is not one OpenSSH accepts"),
        (lambda p: keygen(p, "-t", "rsa", "-b", "1024"), "1024-bit RSA key is too weak"),
        (lambda p: keygen(p, "-t", "ed25519")[:40], "not a valid ssh-ed25519"),
        (lambda p: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKmailstack", "not a valid"),
        (lambda p: "ssh-ed25519-cert-v01@openssh.com AAAA x", "not one OpenSSH accepts"),
        (lambda p: "ssh-ed25519", "not an OpenSSH public key"),
        (lambda p: keygen(p, "-t", "ed25519") + keygen(p, "-t", "ed25519"), "not an OpenSSH"),
    ],
    ids=[
        "ed25519 blob named ecdsa",
        "sk blob named ssh-ed25519",
        "sk-ecdsa blob named sk-ed25519",
        "dsa",
        "rsa-1024",
        "truncated",
        "too short",
        "certificate",
        "type only",
        "two lines",
    ],
)
def test_what_openssh_would_refuse_is_refused(tmp_path: Path, make: object, match: str) -> None:
    line = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ValidationError, match=match):
        KEY.validate_python(line)


def test_hetzner_gets_the_plain_types_only() -> None:
    assert hetzner_accepts("ssh-ed25519 AAAA x")
    assert hetzner_accepts("ecdsa-sha2-nistp521 AAAA x")
    assert not hetzner_accepts(sk_ed25519())
    assert not hetzner_accepts(sk_ecdsa())


def test_a_security_key_reaches_authorized_keys_but_not_hetzner(
    tmp_path: Path, run_stack: RunStack
) -> None:
    plain, sk = keygen(tmp_path, "-t", "ecdsa", "-b", "521").strip(), sk_ecdsa().strip()
    run = run_stack("dev", set={"sshPublicKeys": [plain, sk]})
    registered = [r.inputs["publicKey"] for r in run.of_type("hcloud:index/sshKey:SshKey")]
    assert plain in registered and sk not in registered
    assert len(registered) == 2  # the plain admin key and the deploy key
    access = run.named("server-access").inputs["create"]
    assert plain in access and sk in access
