"""`make ses-dkim`: the DKIM key reaches SES over stdin, in the request SES expects.

Fake `pulumi` and `aws` executables stand in for the CLIs: the fake pulumi
prints a stack's `dkimSigning` output, the fake aws logs its argv and stdin
and answers `get-email-identity` as SES would for a known or unknown domain.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.harness import ROOT

FAKE_PULUMI = """#!/usr/bin/env python3
import os, sys
if sys.argv[1:4] != ["stack", "output", "dkimSigning"] or "--show-secrets" not in sys.argv:
    sys.exit("unexpected pulumi call: " + " ".join(sys.argv[1:]))
sys.stdout.write(open(os.environ["FAKE_OUTPUT"]).read())
"""

FAKE_AWS = """#!/usr/bin/env python3
import json, os, sys
stdin = sys.stdin.read() if "--cli-input-json" in sys.argv else ""
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin}) + "\\n")
if sys.argv[2] == "get-email-identity" and os.environ.get("FAKE_IDENTITY") != "exists":
    sys.exit("An error occurred (NotFoundException) when calling the GetEmailIdentity operation")
"""


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _run(
    tmp_path: Path, output: dict[str, str], identity: str
) -> tuple[int, str, list[dict[str, Any]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in (("pulumi", FAKE_PULUMI), ("aws", FAKE_AWS)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "output.json").write_text(json.dumps(output))
    log = tmp_path / "aws.log"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.ses_dkim",
            "--stack",
            "prod",
            "--pulumi",
            str(bin_dir / "pulumi"),
            "--aws",
            str(bin_dir / "aws"),
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "FAKE_OUTPUT": str(tmp_path / "output.json"),
            "FAKE_LOG": str(log),
            "FAKE_IDENTITY": identity,
        },
        capture_output=True,
        text=True,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, result.stdout + result.stderr, calls


@pytest.fixture(scope="module")
def signing() -> dict[str, str]:
    return {
        "domain": "example.com",
        "selector": "ms202611",
        "privateKeyPem": _rsa_pem(),
        "sesRegion": "eu-central-1",
    }


def _sent_key(attributes: dict[str, str], pem: str) -> None:
    """The key SES gets is the very key of the published record, and loads as one."""
    sent = serialization.load_der_private_key(
        base64.b64decode(attributes["DomainSigningPrivateKey"]), password=None
    )
    ours = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(sent, rsa.RSAPrivateKey) and isinstance(ours, rsa.RSAPrivateKey)
    assert sent.private_numbers() == ours.private_numbers()
    assert attributes["DomainSigningSelector"] == "ms202611"


def test_a_new_identity_is_created_with_the_key_on_stdin(
    tmp_path: Path, signing: dict[str, str]
) -> None:
    code, out, calls = _run(tmp_path, signing, identity="missing")
    assert code == 0, out
    assert [c["argv"][:2] for c in calls] == [
        ["sesv2", "get-email-identity"],
        ["sesv2", "create-email-identity"],
    ]
    create = calls[1]
    assert create["argv"][2:] == [
        "--region",
        "eu-central-1",
        "--cli-input-json",
        "file:///dev/stdin",
    ]
    request = json.loads(create["stdin"])
    assert request["EmailIdentity"] == "example.com"
    _sent_key(request["DkimSigningAttributes"], signing["privateKeyPem"])
    body = request["DkimSigningAttributes"]["DomainSigningPrivateKey"]
    # The key is never in any argv.
    assert not any(body[:40] in " ".join(c["argv"]) for c in calls)
    assert "created to BYODKIM with selector ms202611" in out


def test_an_existing_identity_is_switched_to_the_key(
    tmp_path: Path, signing: dict[str, str]
) -> None:
    code, out, calls = _run(tmp_path, signing, identity="exists")
    assert code == 0, out
    put = calls[-1]
    assert put["argv"][1] == "put-email-identity-dkim-signing-attributes"
    request = json.loads(put["stdin"])
    assert request["SigningAttributesOrigin"] == "EXTERNAL"
    _sent_key(request["SigningAttributes"], signing["privateKeyPem"])


def test_a_stack_that_does_not_use_ses_is_refused_before_aws_is_called(
    tmp_path: Path, signing: dict[str, str]
) -> None:
    code, out, calls = _run(tmp_path, {**signing, "sesRegion": ""}, identity="exists")
    assert code == 1
    assert "does not relay through SES" in out
    assert calls == []
