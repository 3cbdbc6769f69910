"""Hand mailstack's DKIM key to SES (BYODKIM), so SES signs with it.

SES signs every message with its own amazonses.com key, which does not align
with the domain for DMARC. With Bring Your Own DKIM, SES signs with the key
whose public half mailstack publishes under `<selector>._domainkey`, and it
verifies the domain identity by finding that record. Run this once after the
first `pulumi up`, and again after every selector rotation:

    make ses-dkim STACK=prod

The key travels from `pulumi stack output --show-secrets` into the AWS CLI over
stdin (`--cli-input-json file:///dev/stdin`): never in argv, a file or a log.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any


class HandoffError(Exception):
    """The key could not be handed to SES; the message says why."""


def private_key_base64(pem: str) -> str:
    """The key as SES wants it: the PEM body, without armour lines or line breaks."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN") or "PRIVATE KEY" not in lines[0]:
        raise HandoffError("dkimSigning.privateKeyPem is not a PEM private key")
    return "".join(line for line in lines[1:] if not line.startswith("-----"))


def signing_request(signing: Mapping[str, str], identity_exists: bool) -> dict[str, Any]:
    """The SES v2 request that makes SES sign `signing["domain"]` with this key."""
    attributes = {
        "DomainSigningSelector": signing["selector"],
        "DomainSigningPrivateKey": private_key_base64(signing["privateKeyPem"]),
    }
    if identity_exists:
        return {
            "EmailIdentity": signing["domain"],
            "SigningAttributesOrigin": "EXTERNAL",
            "SigningAttributes": attributes,
        }
    return {"EmailIdentity": signing["domain"], "DkimSigningAttributes": attributes}


def _stack_signing(pulumi: str, stack: str) -> dict[str, str]:
    result = subprocess.run(
        [pulumi, "stack", "output", "dkimSigning", "--show-secrets", "--json", "--stack", stack],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise HandoffError(
            f"no dkimSigning output on stack {stack!r} (has it been deployed, and does it "
            f"use mailstack's own DKIM keys?): {result.stderr.strip()}"
        )
    try:
        signing: dict[str, str] = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise HandoffError(f"{pulumi} printed no JSON for dkimSigning on stack {stack!r}") from None
    if not signing.get("sesRegion"):
        raise HandoffError(f"stack {stack!r} does not relay through SES (`mailRelay: ses`)")
    return signing


def _identity_exists(aws: str, domain: str, region: str) -> bool:
    result = subprocess.run(
        [aws, "sesv2", "get-email-identity", "--email-identity", domain, "--region", region],
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        return True
    if "NotFoundException" in result.stderr:
        return False
    raise HandoffError(f"could not look up the SES identity {domain}: {result.stderr.strip()}")


def hand_over(stack: str, pulumi: str = "pulumi", aws: str = "aws") -> str:
    """Register the stack's DKIM key with SES; returns what was done."""
    signing = _stack_signing(pulumi, stack)
    domain, region = signing["domain"], signing["sesRegion"]
    exists = _identity_exists(aws, domain, region)
    operation = "put-email-identity-dkim-signing-attributes" if exists else "create-email-identity"
    result = subprocess.run(
        [aws, "sesv2", operation, "--region", region, "--cli-input-json", "file:///dev/stdin"],
        input=json.dumps(signing_request(signing, exists)),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise HandoffError(f"aws sesv2 {operation} failed: {result.stderr.strip()}")
    verb = "switched" if exists else "created"
    return (
        f"SES identity {domain} ({region}) {verb} to BYODKIM with selector "
        f"{signing['selector']}; SES verifies it once it sees the published DKIM record."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to call")
    parser.add_argument("--aws", default="aws", help="the AWS CLI to call")
    args = parser.parse_args(argv)
    try:
        print(hand_over(args.stack, args.pulumi, args.aws))
    except FileNotFoundError as err:
        tool = "the Pulumi CLI" if err.filename == args.pulumi else "the AWS CLI"
        print(f"ses-dkim: this needs {tool} ({err.filename!r} not found)", file=sys.stderr)
        return 1
    except HandoffError as err:
        print(f"ses-dkim: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
