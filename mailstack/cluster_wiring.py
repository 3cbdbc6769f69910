"""A multi-node stack's wiring: one server per node, the private network and load
balancer, the Swarm and its stack (docs/scale-out.md).

The single-server path (`wiring.deploy`) is untouched: `__main__.py` calls
`deploy_cluster` instead when `nodePools` is set. Every node is the same `HardenedServer` as the
single server, named after its node (`edge-1`, ...).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pulumi

from common.layout import HostLayout
from common.topology import (
    LOAD_BALANCER_IP,
    NODE_VOLUME_GB,
    PRIVATE_NETWORK,
    PRIVATE_SUBNET,
    Node,
    NodePool,
    Role,
    cluster_nodes,
)
from components.firewall import swarm_rules
from mailstack.config import ConfigError, Problem, StackConfig
from mailstack.outputs import export
from mailstack.scale import topology
from mailstack.wiring import _mail_dns, export_stack, server_args, services_args

if TYPE_CHECKING:
    from components.server import HardenedServerArgs


def not_built_yet(config: StackConfig) -> list[Problem]:
    """What a multi-node stack cannot run yet, each naming its config key."""
    problems = []
    if config.backup.enabled:
        problems.append(
            Problem(
                "backupEnabled",
                "backups of a multi-node (nodePools) stack are not built yet; "
                "set backupEnabled: false (docs/scale-out.md)",
            )
        )
    if config.app.preset.value == "mailwizz":
        problems.append(
            Problem(
                "app",
                "MailWizz's source tree is a host folder every app node would need: "
                "not built for nodePools yet (docs/scale-out.md)",
            )
        )
    if config.dns.spf_server_ips:
        problems.append(
            Problem(
                "spfServerIps",
                "a multi-node stack's public addresses are the load balancer's, which "
                "sends no mail; leave spfServerIps off",
            )
        )
    return problems


def _node_args(
    config: StackConfig, node: Node, first: bool, layout: HostLayout
) -> HardenedServerArgs:
    base = server_args(config, layout)
    return dataclasses.replace(
        base,
        hostname=f"{node.name}.{config.domain.mail_host}",
        server_type=node.pool.server_type,
        volume_size_gb=config.server.volume_size_gb if Role.DB in node.roles else NODE_VOLUME_GB,
        # Hetzner refuses a second key with one fingerprint in a project.
        register_admin_keys=base.register_admin_keys and first,
        labels={**base.labels, "mailstack-node": node.name},
        private_rules=swarm_rules(PRIVATE_SUBNET),
        artifact_prefix=f"nodes/{node.name}/",
    )


def deploy_cluster(config: StackConfig) -> None:
    """Build every node, the network, the load balancer, the Swarm and its stack."""
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.cluster import Cluster, ClusterArgs, ClusterNode
    from components.server import HardenedServer
    from components.services.swarm_project import SwarmProject
    from components.swarm_cluster import Swarm, SwarmArgs, SwarmNode

    problems = not_built_yet(config)
    if problems:
        raise ConfigError(problems)
    export_stack(config)
    stack = pulumi.get_stack()
    layout = HostLayout.for_stack(stack)
    nodes = cluster_nodes([NodePool.parse(text) for text in config.server.node_pools])
    servers = {
        node.name: HardenedServer(node.name, _node_args(config, node, i == 0, layout))
        for i, node in enumerate(nodes)
    }
    base = server_args(config, layout)
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            slug=base.slug,
            location=base.location,
            network_range=PRIVATE_NETWORK,
            subnet_range=PRIVATE_SUBNET,
            load_balancer_ip=LOAD_BALANCER_IP,
            nodes=[
                ClusterNode(n.name, servers[n.name].server_id, n.private_ip, Role.PROXY in n.roles)
                for n in nodes
            ],
            labels=base.labels,
            protect=base.protect,
        ),
    )
    manager = servers[nodes[0].name].host
    services = SwarmProject("services", services_args(config, manager), topology(config))
    Swarm(
        "swarm",
        SwarmArgs(
            nodes=[
                SwarmNode(
                    n.name,
                    servers[n.name].host,
                    n.private_ip,
                    n.roles,
                    cluster.attachments[n.name],
                )
                for n in nodes
            ],
            stack=services.stack,
        ),
    )
    export("loadBalancerIpv4", cluster.ipv4)
    export("loadBalancerIpv6", cluster.ipv6)
    export(
        "nodes", {n.name: {"privateIp": n.private_ip, "ipv4": servers[n.name].ipv4} for n in nodes}
    )
    export("sshCommand", servers[nodes[0].name].ssh_command)
    if config.uses_dns:
        _mail_dns(config, server_ipv4=cluster.ipv4, server_ipv6=cluster.ipv6)
    export("appUrl", services.app_url)
    if services.admin_password is not None:
        export("appAdminPassword", services.admin_password)
    if services.grafana_password is not None:
        export("grafanaAdminPassword", services.grafana_password)
    export("backup", {"enabled": False})
    export("healthUrl", pulumi.Output.concat(services.app_url, config.app.health_path))
