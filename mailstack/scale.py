"""A multi-node stack's Swarm stack file, from the same config mapping as one server.

The services come from `wiring.services_args`, exactly as the single server's
compose.yaml does; only the renderer (components/services/swarm.py) and the
node counts from `nodePools` differ.
"""

from __future__ import annotations

from common.layout import HostLayout
from common.topology import NodePool, Role
from components.host import Host
from components.services.project import build_project
from components.services.swarm import Topology, render_swarm
from mailstack.config import StackConfig
from mailstack.wiring import services_args

STACK_FILE = "stack.yaml"
"""The stack file's name in the project folder, beside compose.yaml's files."""


def topology(config: StackConfig) -> Topology:
    pools = [NodePool.parse(text) for text in config.server.node_pools]
    return Topology(app_nodes=sum(p.count for p in pools if Role.APP in p.roles))


def swarm_stack_files(config: StackConfig, stack: str) -> dict[str, str]:
    """The stack file `docker stack deploy` takes and the project files it ships as
    configs, by path relative to the project folder (needs the Pulumi runtime: the
    relay password is read as a secret Output, never rendered)."""
    host = Host("swarm", connection=None, layout=HostLayout.for_stack(stack))
    rendered = build_project(services_args(config, host).stack)
    stack_file = render_swarm(rendered.project, topology(config), rendered.files)
    return {**rendered.files, STACK_FILE: stack_file}
