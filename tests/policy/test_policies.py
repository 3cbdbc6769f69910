"""The policy pack's rules: clean on every committed stack, and each one can fail."""

from __future__ import annotations

import pytest
from mailstack_policy.rules import (
    DNS_RECORD,
    FIREWALL,
    PRIMARY_IP,
    RDNS,
    RULES,
    SERVER,
    VOLUME,
    PolicyRule,
    violations,
)
from pulumi_policy import PolicyResource

from tests.conftest import STACKS
from tests.policy.resources import policy_resources, resource
from tools.harness import Run


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_violate_no_policy(stack_runs: dict[str, Run], stack: str) -> None:
    found = violations(policy_resources(stack_runs[stack]))
    assert {name: msgs for name, msgs in found.items() if msgs} == {}


def _rule(name: str) -> PolicyRule:
    (rule,) = [r for r in RULES if r.name == name]
    return rule


def _ssh(sources: list[str], port: str = "22") -> dict[str, object]:
    return {"rules": [{"direction": "in", "protocol": "tcp", "port": port, "sourceIps": sources}]}


# Each case: rule name, resources, whether a violation is expected.
CASES = [
    ("no-world-ssh-in-prod", [resource(FIREWALL, "fw", _ssh(["0.0.0.0/0"]), stack="prod")], True),
    ("no-world-ssh-in-prod", [resource(FIREWALL, "fw", _ssh(["::/0"], "any"), stack="prod")], True),
    (
        "no-world-ssh-in-prod",
        [resource(FIREWALL, "fw", _ssh(["0.0.0.0/0"], "20-30"), stack="prod")],
        True,
    ),
    (
        "no-world-ssh-in-prod",
        [resource(FIREWALL, "fw", _ssh(["0.0.0.0/1", "128.0.0.0/1"]), stack="prod")],
        True,
    ),
    (
        "no-world-ssh-in-prod",
        [resource(FIREWALL, "fw", _ssh(["198.51.100.7/32"]), stack="prod")],
        False,
    ),
    (
        "no-world-ssh-in-prod",
        [resource(FIREWALL, "fw", _ssh(["0.0.0.0/0"], "443"), stack="prod")],
        False,
    ),
    (
        "mail-names-unproxied",
        [
            resource(RDNS, "rdns", {"dnsPtr": "mail.example.com"}),
            resource(
                DNS_RECORD,
                "a",
                {"name": "mail.example.com", "type": "A", "proxied": True, "ttl": 1},
            ),
        ],
        True,
    ),
    (
        "mail-names-unproxied",
        [
            resource(
                DNS_RECORD,
                "mx",
                {"name": "example.com", "type": "MX", "content": "in.example.com", "ttl": 300},
            ),
            resource(
                DNS_RECORD, "in", {"name": "in.example.com", "type": "A", "proxied": True, "ttl": 1}
            ),
        ],
        True,
    ),
    (
        "mail-names-unproxied",
        [
            resource(
                DNS_RECORD,
                "web",
                {"name": "app.example.com", "type": "A", "proxied": True, "ttl": 300},
            )
        ],
        True,
    ),
    (
        "mail-names-unproxied",
        [
            resource(
                DNS_RECORD,
                "web",
                {"name": "app.example.com", "type": "A", "proxied": True, "ttl": 1},
            )
        ],
        False,
    ),
    (
        "prod-data-protected",
        [resource(VOLUME, "data", {"deleteProtection": True}, stack="prod")],
        True,
    ),
    (
        "prod-data-protected",
        [resource(VOLUME, "data", {"deleteProtection": False}, stack="prod", protect=True)],
        True,
    ),
    (
        "prod-data-protected",
        [resource(VOLUME, "data", {"deleteProtection": True}, stack="prod", protect=True)],
        False,
    ),
    ("prod-data-protected", [resource(VOLUME, "data", {}, stack="dev")], False),
    ("ips-outlive-servers", [resource(PRIMARY_IP, "ip", {"autoDelete": True})], True),
    ("ips-outlive-servers", [resource(PRIMARY_IP, "ip", {"autoDelete": False})], False),
    (
        "server-never-replaced-by-boot-config",
        [resource(SERVER, "srv", {}, ignore_changes=["userData", "sshKeys"])],
        True,
    ),
    (
        "server-never-replaced-by-boot-config",
        [resource(SERVER, "srv", {}, ignore_changes=["userData", "sshKeys", "image"])],
        False,
    ),
    (
        "no-plaintext-private-key",
        [
            resource(
                "tls:index/privateKey:PrivateKey",
                "k",
                {"x": ["-----BEGIN RSA PRIVATE KEY-----\nMII"]},
            )
        ],
        True,
    ),
    (
        "no-plaintext-private-key",
        [resource("tls:index/privateKey:PrivateKey", "k", {"x": "[secret]"})],
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "resources", "violates"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_flags_exactly_the_bad_resources(
    name: str, resources: list[PolicyResource], violates: bool
) -> None:
    assert bool(_rule(name).check(resources)) is violates


def test_every_rule_has_a_failing_case() -> None:
    assert {c[0] for c in CASES if c[2]} == {r.name for r in RULES}


def test_policy_pack_wraps_every_rule() -> None:
    from mailstack_policy.rules import policy_pack_policies

    assert [p.name for p in policy_pack_policies()] == [r.name for r in RULES]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rules_have_something_to_inspect_on_server_stacks(
    stack_runs: dict[str, Run], stack: str
) -> None:
    types = {r.type for r in stack_runs[stack].registrations}
    for rule in RULES:
        assert set(rule.applies_to) <= types, f"{rule.name} would pass vacuously on {stack}"
