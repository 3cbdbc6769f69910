"""A multi-node stack's Swarm stack file, from the same config mapping as one server.

The services come from `wiring.services_args`, as the single server's
compose.yaml does, with what a Swarm changes (`swarm_services_args`); the
renderer (components/services/swarm.py) and the node counts from `nodePools`
differ.
"""

from __future__ import annotations

import dataclasses

from common.layout import HostLayout
from common.topology import LOAD_BALANCER_IP, NodePool, Role
from components.host import Host
from components.services.deploy import ComposeProjectArgs
from components.services.project import build_project
from components.services.swarm import Topology, render_swarm
from mailstack.config import StackConfig
from mailstack.wiring import services_args

STACK_FILE = "stack.yaml"
"""The stack file's name in the project folder, beside compose.yaml's files."""


def swarm_services_args(config: StackConfig, host: Host) -> ComposeProjectArgs:
    """The services' Args on a Swarm: the proxy reads each client's address from
    the load balancer's PROXY header; the backup's status folder exists on the db
    node only, so the proxy (on the edge) serves no backup status. The exporter's
    textfile folder stays: with backups and monitoring on, `unwatched_backups`
    keeps the exporter on the db node."""
    args = services_args(config, host)
    stack = dataclasses.replace(
        args.stack,
        backup_status_dir="",
        proxy_protocol_from=(f"{LOAD_BALANCER_IP}/32",),
    )
    return dataclasses.replace(args, stack=stack)


def topology(config: StackConfig) -> Topology:
    pools = [NodePool.parse(text) for text in config.server.node_pools]
    return Topology(app_nodes=sum(p.count for p in pools if Role.APP in p.roles))


def swarm_stack_files(config: StackConfig, stack: str) -> dict[str, str]:
    """The stack file `docker stack deploy` takes and the project files it ships as
    configs, by path relative to the project folder (needs the Pulumi runtime: the
    relay password is read as a secret Output, never rendered)."""
    host = Host("swarm", connection=None, layout=HostLayout.for_stack(stack))
    rendered = build_project(swarm_services_args(config, host).stack)
    stack_file = render_swarm(rendered.project, topology(config), rendered.files)
    return {**rendered.files, STACK_FILE: stack_file}
