"""A multi-node stack's Hetzner private network and load balancer (docs/scale-out.md).

Every node joins one cloud subnet at a fixed address (Swarm advertises it, so
it must survive a replaced attachment); the load balancer joins the same
subnet and forwards TCP 80/443 to the proxy nodes' private addresses, where
Caddy terminates TLS as on one server. Its health checks are TCP connects: an
HTTP check would need a Host header and TLS that only Caddy holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_hcloud as hcloud

COMPONENT_TYPE = "mailstack:network:Cluster"
LOAD_BALANCER_TYPE = "lb11"
WEB_PORTS = (80, 443)
PROXIED_PORT = 443
"""The one port whose connections open with a PROXY header."""
NETWORK_ZONES = {"nbg1": "eu-central", "fsn1": "eu-central", "hel1": "eu-central"}
"""Hetzner's network zone of each location a private network may span."""


@dataclass(frozen=True)
class ClusterNode:
    """One server on the private network."""

    name: str
    server_id: pulumi.Input[str]
    private_ip: str
    proxy: bool
    """A load balancer target (runs the proxy)."""


@dataclass(frozen=True)
class ClusterArgs:
    slug: str
    """Prefix of the Hetzner resource names (unique per project)."""
    location: str
    network_range: str
    subnet_range: str
    load_balancer_ip: str
    nodes: Sequence[ClusterNode]
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False

    @property
    def network_zone(self) -> str:
        if self.location not in NETWORK_ZONES:
            raise ValueError(f"no known network zone for location {self.location!r}")
        return NETWORK_ZONES[self.location]


def _hcloud_id(value: pulumi.Input[str]) -> pulumi.Output[int]:
    return pulumi.Output.from_input(value).apply(int)


class Cluster(pulumi.ComponentResource):
    """The private network, each node's attachment, and the load balancer."""

    attachments: dict[str, hcloud.ServerNetwork]
    """Each node's attachment by node name: a node's Swarm steps wait for it."""
    ipv4: pulumi.Output[str]
    ipv6: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions(parent=self, protect=args.protect)
        labels = dict(args.labels)
        network = hcloud.Network(
            f"{name}-network",
            name=f"{args.slug}-net",
            ip_range=args.network_range,
            labels=labels,
            delete_protection=args.protect,
            opts=guarded,
        )
        subnet = hcloud.NetworkSubnet(
            f"{name}-subnet",
            network_id=_hcloud_id(network.id),
            type="cloud",
            network_zone=args.network_zone,
            ip_range=args.subnet_range,
            opts=child,
        )
        self.attachments = {
            node.name: hcloud.ServerNetwork(
                f"{name}-{node.name}-network",
                server_id=_hcloud_id(node.server_id),
                # The subnet, not the network: so it exists first.
                subnet_id=subnet.id,
                ip=node.private_ip,
                opts=child,
            )
            for node in args.nodes
        }
        balancer = hcloud.LoadBalancer(
            f"{name}-lb",
            name=f"{args.slug}-lb",
            load_balancer_type=LOAD_BALANCER_TYPE,
            location=args.location,
            algorithm=hcloud.LoadBalancerAlgorithmArgs(type="round_robin"),
            labels=labels,
            delete_protection=args.protect,
            opts=guarded,
        )
        lb_network = hcloud.LoadBalancerNetwork(
            f"{name}-lb-network",
            load_balancer_id=_hcloud_id(balancer.id),
            subnet_id=subnet.id,
            ip=args.load_balancer_ip,
            enable_public_interface=True,
            opts=child,
        )
        for node in args.nodes:
            if node.proxy:
                hcloud.LoadBalancerTarget(
                    f"{name}-lb-target-{node.name}",
                    load_balancer_id=_hcloud_id(balancer.id),
                    type="server",
                    server_id=_hcloud_id(node.server_id),
                    use_private_ip=True,
                    # A private target needs both on the network first.
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[lb_network, self.attachments[node.name]]
                    ),
                )
        for port in WEB_PORTS:
            hcloud.LoadBalancerService(
                f"{name}-lb-{port}",
                load_balancer_id=balancer.id,
                protocol="tcp",
                listen_port=port,
                destination_port=port,
                # On 443 the client's address reaches Caddy in a PROXY header,
                # which Caddy reads from this load balancer's address only
                # (`ProjectParams.proxy_protocol_from`). Port 80 only redirects
                # and answers ACME: no header (Caddy's redirect server, made
                # at run time, takes no listener wrapper). A TCP health check
                # only connects, so it needs none either.
                proxyprotocol=port == PROXIED_PORT,
                health_check=hcloud.LoadBalancerServiceHealthCheckArgs(
                    protocol="tcp", port=port, interval=10, timeout=5, retries=3
                ),
                opts=child,
            )
        self.ipv4 = balancer.ipv4
        self.ipv6 = balancer.ipv6
        self.register_outputs({"ipv4": self.ipv4, "ipv6": self.ipv6})
