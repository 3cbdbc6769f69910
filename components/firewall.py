"""Firewall rules as data, shared by the Hetzner cloud firewall and the host's UFW.

Rules are keyed `direction-protocol-port` (kube-hetzner's layout) so a stack's
extras merge by key and a diff names the rule that changed. The same rules
render to the cloud firewall (`components.server`) and to UFW inside the host
(`components.access`). The cloud firewall follows them on every `pulumi up`;
UFW follows them through the access step, which runs over SSH after the first
boot and again whenever the rules change. Until that step has run (first boot,
or an up whose access step failed) the layers differ: at first boot UFW admits
SSH from anywhere and only the cloud firewall limits it to the admin networks.
The step itself connects over SSH, so UFW must still admit the deploying
machine: change `adminCidrs` by adding the new block first and removing the old
one in a later `pulumi up`, never both at once from outside the old block.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

WORLD: tuple[str, ...] = ("0.0.0.0/0", "::/0")
SSH_PORT = 22
TAILNET = "100.64.0.0/10"
"""Tailscale's address range (its CGNAT block): the tailnet's admins."""
WEB_PORTS = (80, 443)
# The broadest block prod lets reach SSH: a site or a provider's allocation,
# not a slice of the internet. `0.0.0.0/1` + `128.0.0.0/1` is as open as
# `0.0.0.0/0`, so the check is on breadth, not on the literal world CIDRs.
MIN_SSH_PREFIX = {4: 16, 6: 32}


def too_broad_for_ssh(cidr: str) -> bool:
    """Whether a CIDR block opens SSH to more than one site or provider."""
    net = ipaddress.ip_network(cidr, strict=False)
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        # `::ffff:0:0/96` is all of IPv4, spelled in IPv6.
        return net.prefixlen - 96 < MIN_SSH_PREFIX[4]
    return net.prefixlen < MIN_SSH_PREFIX[net.version]


@dataclass(frozen=True)
class FirewallRule:
    """One inbound rule: who may reach which port."""

    protocol: Literal["tcp", "udp", "icmp"]
    port: int | None
    """None for ICMP, which has no ports."""
    sources: tuple[str, ...]
    """CIDR blocks allowed in."""
    description: str
    direction: Literal["in"] = "in"

    @property
    def key(self) -> str:
        return f"{self.direction}-{self.protocol}-{self.port if self.port is not None else 'any'}"

    @property
    def is_world_open(self) -> bool:
        return any(source in WORLD for source in self.sources)


def inbound_rules(
    admin_cidrs: Sequence[str], extra_tcp_ports: Sequence[int] = ()
) -> dict[str, FirewallRule]:
    """The inbound rules of a server, keyed `direction-protocol-port`.

    SSH is open to `admin_cidrs` only; with none (a Tailscale-only host) there is
    no SSH rule at all. 80/443 and ICMP are public, plus any extra TCP ports.
    """
    if SSH_PORT in extra_tcp_ports:
        raise ValueError("SSH is opened by admin CIDRs only, never as an extra public port")
    rules: list[FirewallRule] = [FirewallRule("icmp", None, WORLD, "ping and path MTU discovery")]
    if admin_cidrs:
        rules.append(
            FirewallRule("tcp", SSH_PORT, tuple(admin_cidrs), "SSH from the admin networks")
        )
    rules += [FirewallRule("tcp", port, WORLD, "web (reverse proxy)") for port in WEB_PORTS]
    rules += [FirewallRule("tcp", port, WORLD, "extra public port") for port in extra_tcp_ports]
    merged: dict[str, FirewallRule] = {}
    for rule in rules:
        merged.setdefault(rule.key, rule)
    return merged


SWARM_PORTS: tuple[tuple[Literal["tcp", "udp"], int, str], ...] = (
    ("tcp", 2377, "Swarm cluster management"),
    ("tcp", 7946, "Swarm node communication"),
    ("udp", 7946, "Swarm node communication"),
    ("udp", 4789, "Swarm overlay network data (VXLAN)"),
)


def swarm_rules(private_subnet: str) -> dict[str, FirewallRule]:
    """Swarm's ports, from the private subnet only, for the host's UFW.

    Hetzner's cloud firewall does not filter private-network traffic, so these
    live in UFW alone; the public side never opens them.
    """
    return {
        f"in-{protocol}-{port}-private": FirewallRule(protocol, port, (private_subnet,), what)
        for protocol, port, what in SWARM_PORTS
    }
