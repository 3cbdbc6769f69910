"""Who can reach the server: SSH keys, admin networks, open ports, Tailscale."""

from __future__ import annotations

import ipaddress

from components.firewall import MIN_SSH_PREFIX, too_broad_for_ssh
from mailstack.config.model import Problem, StackConfig


def _vpn_range(cidr: str) -> bool:
    """RFC 1918 / CGNAT for IPv4, unique local for IPv6: what a VPN hands out.

    Not `is_private`, which also counts `::ffff:0:0/96` (all of IPv4).
    """
    net = ipaddress.ip_network(cidr)
    vpn = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
    return any(
        net.version == block.version and net.subnet_of(block)  # type: ignore[arg-type]
        for block in map(ipaddress.ip_network, vpn)
    )


def no_world_ssh_in_prod(c: StackConfig) -> list[Problem]:
    """No stack opens SSH to the world; any but prod may say it allows it (`allowWorldSsh`)."""
    if c.is_prod and c.admin.allow_world_ssh:
        return [Problem("allowWorldSsh", "prod never opens SSH to the world: remove it")]
    if not c.is_prod:
        return [
            Problem(
                f"adminCidrs[{i}]",
                f"{cidr!r} opens SSH to a large part of the internet; use your office/VPN "
                "blocks, or set `allowWorldSsh: true` in this stack to say you mean it",
            )
            for i, cidr in enumerate(c.admin.cidrs)
            if too_broad_for_ssh(cidr) and not c.admin.allow_world_ssh and not _vpn_range(cidr)
        ]
    limit = (
        f"at most /{MIN_SSH_PREFIX[4]} for IPv4 and /{MIN_SSH_PREFIX[6]} for IPv6 "
        "(e.g. '198.51.100.7/32')"
    )
    return [
        Problem(
            f"adminCidrs[{i}]",
            f"{cidr!r} is wider than prod allows for SSH; list the VPN's own subnets, {limit}"
            if _vpn_range(cidr)
            else f"{cidr!r} opens SSH to a large part of the internet, and prod must not; "
            f"use your office/VPN blocks, {limit}",
        )
        for i, cidr in enumerate(c.admin.cidrs)
        if too_broad_for_ssh(cidr)
    ]


def server_reachable(c: StackConfig) -> list[Problem]:
    if c.is_local:
        return []
    problems = []
    if not c.admin.ssh_public_keys:
        problems.append(
            Problem(
                "sshPublicKeys",
                "a `hetzner` target needs at least one admin SSH public key, or nobody can log in",
            )
        )
    first_seen: dict[tuple[str, ...], int] = {}
    for i, line in enumerate(c.admin.ssh_public_keys):
        # Type and key body; the comment does not make it another key.
        seen = first_seen.setdefault(tuple(line.split()[:2]), i)
        if seen != i:
            problems.append(
                Problem(
                    f"sshPublicKeys[{i}]",
                    f"the same key as sshPublicKeys[{seen}]; list each key once",
                )
            )
    if not c.admin.cidrs:
        # Even with Tailscale: the first boot is awaited and the tailnet joined
        # over SSH from wherever `pulumi up` runs, before the host is on the tailnet.
        problems.append(
            Problem(
                "adminCidrs",
                "a `hetzner` target needs the CIDR blocks `pulumi up` and your admins "
                "connect from (e.g. '198.51.100.7/32'), so SSH is reachable by you and "
                "nobody else; with `tailscale: true` too, since the tailnet is joined over SSH",
            )
        )
    return problems


def firewall_ports(c: StackConfig) -> list[Problem]:
    return [
        Problem(
            f"firewallExtraTcpPorts[{i}]",
            "port 22 (SSH) is opened to `adminCidrs` only, never as an extra public port",
        )
        for i, port in enumerate(c.admin.extra_tcp_ports)
        if port == 22
    ]


def tailscale(c: StackConfig) -> list[Problem]:
    if c.admin.tailscale and not c.secrets.has("tailscaleAuthKey"):
        return [Problem("tailscaleAuthKey", "`tailscale: true` needs the auth key secret")]
    return []
