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
    db_node,
)
from components.backup import Backup
from components.backup_sources import sources_from_project, swarm_app_control, swarm_reach
from components.firewall import swarm_rules
from components.host import Host
from components.services.model import Project
from components.services.model import Role as ServiceRole
from components.services.project import build_project
from components.services.swarm import PLACEMENT, Topology, replicas
from mailstack.config import ConfigError, Problem, StackConfig
from mailstack.outputs import export
from mailstack.scale import swarm_services_args, topology
from mailstack.wiring import (
    _mail_dns,
    backup_args_for,
    backup_outputs,
    export_stack,
    server_args,
)

if TYPE_CHECKING:
    from components.server import HardenedServerArgs


def not_built_yet(config: StackConfig) -> list[Problem]:
    """What a multi-node stack cannot run yet, each naming its config key."""
    problems = []
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


UNSAVED_ROLES = (ServiceRole.PROXY, ServiceRole.METRICS, ServiceRole.MONITORING)
"""Data a multi-node backup leaves out, as it may: the proxy's certificates (Caddy
issues them again), metrics history and silences (not restored on one server either)."""


def outside_backups(project: Project, nodes: list[Node]) -> list[Problem]:
    """Writable data the db node's backups cannot reach: a volume of a service
    that runs on other nodes (each holding its own copy, never saved)."""
    db = db_node(nodes)
    unsaved = []
    for service in project.services:
        if service.role in UNSAVED_ROLES:
            continue
        holders = [n.name for n in nodes if PLACEMENT[service.role] in n.roles]
        writable = [m.source for m in service.mounts if not m.read_only]
        if writable and holders != [db.name]:
            unsaved.append(f"{service.name} ({', '.join(writable)}) on {', '.join(holders)}")
    if not unsaved:
        return []
    return [
        Problem(
            "nodePools",
            "with backups on, every service's data must live on the db node, where the "
            f"backups run; these would not be saved: {'; '.join(unsaved)}. Give the db "
            "pool those roles too, use an app that keeps its files in object storage "
            "(web-api), or turn backups off (dev) (docs/scale-out.md)",
        )
    ]


def unwatched_backups(config: StackConfig, nodes: list[Node]) -> list[Problem]:
    """The backup gauges are files on the db node, read by the node exporter as
    local files: with the exporter elsewhere, BackupStale and BackupFailed would
    never fire, and no one would know the backups had stopped."""
    db = db_node(nodes)
    monitors = [n.name for n in nodes if Role.MONITORING in n.roles]
    if not config.services.monitoring or monitors == [db.name]:
        return []
    return [
        Problem(
            "nodePools",
            "with backups and monitoring on, the monitoring role must be on the db node "
            f"alone (now: {', '.join(monitors) or 'no node'}): the backups write their "
            "gauges there, and the exporter reads them as local files, so the backup "
            "alerts could never fire elsewhere (docs/scale-out.md)",
        )
    ]


def swarm_backup(
    config: StackConfig, db: Node, host: Host, project: Project, topology: Topology
) -> Backup:
    """The backups on the db node: its databases dumped through their tasks there,
    its volumes as files, a restore stopping and starting the app across the Swarm."""
    reach = swarm_reach(project, host.layout.bin_dir)
    # What the proxy and monitoring keep is left out here as everywhere on a
    # Swarm (UNSAVED_ROLES), even when they share the db node.
    here = [
        s for s in project.services if PLACEMENT[s.role] in db.roles and s.role not in UNSAVED_ROLES
    ]
    sources = sources_from_project(project, host.layout.stack_dir, reach, here)
    counts = {s.name: replicas(s, topology) for s in project.services}
    app = swarm_app_control(project, sources, counts, reach)
    args = dataclasses.replace(backup_args_for(config, host, sources, app), swarm=True)
    return Backup("backup", args)


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


def _project(config: StackConfig, layout: HostLayout) -> Project:
    """The services as the manager will run them, read before any resource exists:
    without their images' digests, which are looked up through a provider."""
    unpinned = config.model_copy(
        update={"app": config.app.model_copy(update={"pin_digests": False})}
    )
    probe = Host("swarm", connection=None, layout=layout)
    return build_project(swarm_services_args(unpinned, probe).stack).project


def deploy_cluster(config: StackConfig) -> None:
    """Build every node, the network, the load balancer, the Swarm and its stack."""
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.cluster import Cluster, ClusterArgs, ClusterNode
    from components.server import HardenedServer
    from components.services.swarm_project import SwarmProject
    from components.swarm_cluster import Swarm, SwarmArgs, SwarmNode

    stack = pulumi.get_stack()
    layout = HostLayout.for_stack(stack)
    nodes = cluster_nodes([NodePool.parse(text) for text in config.server.node_pools])
    project = _project(config, layout)
    problems = not_built_yet(config)
    if config.backup.enabled:
        problems += outside_backups(project, nodes) + unwatched_backups(config, nodes)
    if problems:
        raise ConfigError(problems)
    export_stack(config)
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
    db = db_node(nodes)
    backup = None
    if config.backup.enabled:
        backup = swarm_backup(config, db, servers[db.name].host, project, topology(config))
    services = SwarmProject("services", swarm_services_args(config, manager), topology(config))
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
            after=backup.installed if backup is not None else (),
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
    export("backup", backup_outputs(config, backup))
    export("healthUrl", pulumi.Output.concat(services.app_url, config.app.health_path))
