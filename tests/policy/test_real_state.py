"""The policy pack on resources shaped as the Pulumi CLI hands them over.

The mock-run tests (test_policies.py) give the rules plain dicts with secrets
masked. The CLI does neither: the engine sends each resource's properties in
the wire format (a secret is `{sig: <secret>, value: ...}`) and pulumi_policy's
AnalyzeStack decodes them *without* its secrets proxy, so a secret arrives as
plain text, and wraps them in read-only Mappings that raise on values unknown
during preview. What is left to tell a pack that a property is secret is the
resource's `additionalSecretOutputs` option (pulumi_tls names its private keys
there, pulumi_command a command's `connection`).

These tests drive pulumi_policy's own servicer (what `pulumi preview
--policy-pack policy/` starts) with such requests: after `pulumi up` (state:
outputs known, secrets decoded), in the preview of a new stack (outputs
unknown), and with a key that nothing marks secret, which must still be caught.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from mailstack_policy.rules import no_plaintext_private_key, policy_pack_policies
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policy.resources import resource

RULE = "no-plaintext-private-key"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n"
)
PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
TLS_SECRETS = ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]
COMMAND_SECRETS = ["connection"]


def _secret(value: Any) -> dict[str, Any]:
    """A value as the engine marks a secret on the wire."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def _resource(type_: str, name: str, props: dict[str, Any], secret_outputs: list[str]) -> Any:
    struct = struct_pb2.Struct()
    json_format.ParseDict(props, struct)
    return proto.AnalyzerResource(
        type=type_,
        name=name,
        urn=f"urn:pulumi:prod::mailstack::{type_}::{name}",
        properties=struct,
        options=proto.AnalyzerResourceOptions(additionalSecretOutputs=secret_outputs),
    )


def _deploy_key(private_openssh: Any, private_pem: Any) -> Any:
    return _resource(
        "tls:index/privateKey:PrivateKey",
        "server-deploy-key",
        {
            "algorithm": "ED25519",
            "privateKeyOpenssh": private_openssh,
            "privateKeyPem": private_pem,
            "publicKeyOpenssh": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== \n",
        },
        TLS_SECRETS,
    )


def _step(connection: Any, secret_outputs: list[str] = COMMAND_SECRETS, **extra: Any) -> Any:
    return _resource(
        "command:remote:Command",
        "server-access",
        {"connection": connection, "create": "sudo -n true", **extra},
        secret_outputs,
    )


def _violations(*resources: Any) -> list[str]:
    servicer = _PolicyAnalyzerServicer(
        "mailstack", "0.0.1", list[Policy](policy_pack_policies()), EnforcementLevel.MANDATORY
    )
    request = proto.AnalyzeStackRequest(resources=resources)
    response = servicer.AnalyzeStack(request, None)  # type: ignore[no-untyped-call]
    # A rule that could not run (an unknown value it did not expect) comes back
    # as an advisory diagnostic: that is a failure to judge, not a pass.
    unjudged = [d.message for d in response.diagnostics if "can't run policy" in d.message]
    assert unjudged == []
    return [d.message for d in response.diagnostics if d.policyName == RULE]


def test_state_after_up_with_secrets_decoded_passes() -> None:
    key = _deploy_key(_secret(KEY), _secret(PEM))
    step = _step(_secret({"host": "203.0.113.7", "user": "mailadmin", "privateKey": KEY}))
    assert _violations(key, step) == []


def test_preview_of_a_new_stack_with_unknown_keys_passes() -> None:
    key = _deploy_key(UNKNOWN_STRING_VALUE, UNKNOWN_STRING_VALUE)
    step = _step(
        _secret(
            {"host": UNKNOWN_STRING_VALUE, "user": "mailadmin", "privateKey": UNKNOWN_STRING_VALUE}
        )
    )
    assert _violations(key, step) == []


def test_a_plain_key_in_a_command_is_caught() -> None:
    # The engine marks `connection` secret, but the key also sits in `create`,
    # a property nothing declares secret: that one is a leak.
    step = _step(_secret({"host": "203.0.113.7", "privateKey": KEY}), create=f"echo '{KEY}'")
    (message,) = _violations(step)
    assert "server-access: create holds a private key" in message


def test_a_key_in_a_connection_nothing_marks_secret_is_caught() -> None:
    # A resource that does not declare its connection secret: the engine would
    # store and show the key as plain text.
    step = _step({"host": "203.0.113.7", "privateKey": KEY}, secret_outputs=[])
    (message,) = _violations(step)
    assert "server-access: connection holds a private key" in message


def test_a_plain_key_beside_unknown_values_is_still_caught() -> None:
    # During preview an unknown value elsewhere on the resource must not make
    # the rule give up on the whole resource.
    step = _step(
        {"host": UNKNOWN_STRING_VALUE, "privateKey": PEM},
        secret_outputs=[],
        triggers=[UNKNOWN_STRING_VALUE],
    )
    (message,) = _violations(step)
    assert "connection holds a private key" in message


def test_the_rule_on_decoded_dicts_honours_declared_secrets() -> None:
    # The same rule called directly, as the mock-run tests do, on what
    # pulumi_policy decodes from real state: the secret key in plain text.
    props = {"privateKeyOpenssh": KEY, "publicKeyOpenssh": "ssh-ed25519 AAAA"}
    declared = resource(
        "tls:index/privateKey:PrivateKey", "server-deploy-key", props, secret_outputs=TLS_SECRETS
    )
    undeclared = resource("tls:index/privateKey:PrivateKey", "leaky-key", props)
    assert no_plaintext_private_key([declared, undeclared]) == [
        "leaky-key: privateKeyOpenssh holds a private key in plain text"
    ]
