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

STACK_FILE = "swarm/stack.yaml"
"""Where synth-style runs publish the stack file (build/<stack>/swarm/stack.yaml)."""


def topology(config: StackConfig) -> Topology:
    pools = [NodePool.parse(text) for text in config.server.node_pools]
    return Topology(app_nodes=sum(p.count for p in pools if Role.APP in p.roles))


def swarm_stack_file(config: StackConfig, stack: str) -> str:
    """The stack file `docker stack deploy` would take (needs the Pulumi runtime:
    the relay password is read as a secret Output, never rendered)."""
    host = Host("swarm", connection=None, layout=HostLayout.for_stack(stack))
    project = build_project(services_args(config, host).stack).project
    return render_swarm(project, topology(config))
