"""What the server component does for the runs after the first: no spurious
diff on the primary IPs, and a deploy key that prod never loses by accident."""

from __future__ import annotations

import pytest

from tools.harness import Run

PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
HETZNER_STACKS = ("dev", "prod")


@pytest.mark.parametrize("stack", HETZNER_STACKS)
def test_primary_ips_name_no_assignee_type_without_an_assignee(
    stack_runs: dict[str, Run], stack: str
) -> None:
    # Hetzner reports an unassigned IP's type as `unassigned` (since 2026-08-01),
    # and the IP is assigned by the server's public_nets, never by the IP: a
    # fixed "server" would differ from what a refresh reads on every run.
    ips = stack_runs[stack].of_type(PRIMARY_IP)
    assert len(ips) == 2
    for ip in ips:
        assert "assigneeId" not in ip.inputs, ip.name
        assert "assigneeType" not in ip.inputs, f"{ip.name}: {ip.inputs.get('assigneeType')}"


def test_prod_protects_the_deploy_key(stack_runs: dict[str, Run]) -> None:
    key = stack_runs["prod"].named("server-deploy-key")
    assert key.type == PRIVATE_KEY
    assert key.protect is True


def test_dev_leaves_the_deploy_key_unprotected(stack_runs: dict[str, Run]) -> None:
    # Throwaways made from dev must be destroyable in one `pulumi destroy`.
    key = stack_runs["dev"].named("server-deploy-key")
    assert key.type == PRIVATE_KEY
    assert key.protect is False
