"""Node pools: which servers a stack runs on and what each of them does.

A pool is `name:count:serverType:role+role` (validated by the config). No pool
means one server that does everything, exactly today's single-server stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    MANAGER = "manager"
    PROXY = "proxy"
    APP = "app"
    DB = "db"
    MONITORING = "monitoring"


@dataclass(frozen=True)
class NodePool:
    name: str
    count: int
    server_type: str
    roles: tuple[Role, ...]

    @classmethod
    def parse(cls, text: str) -> NodePool:
        """A pool from its already validated config text."""
        name, count, server_type, roles = text.split(":")
        return cls(name, int(count), server_type, tuple(Role(r) for r in roles.split("+")))

    def node_names(self) -> list[str]:
        """`edge-1`, `edge-2`, ...: the nodes' names, stable in count order."""
        return [f"{self.name}-{i}" for i in range(1, self.count + 1)]


def pools_with(pools: list[NodePool], role: Role) -> list[NodePool]:
    return [p for p in pools if role in p.roles]


PRIVATE_NETWORK = "10.42.0.0/16"
"""The Hetzner private network of a multi-node stack."""
PRIVATE_SUBNET = "10.42.0.0/17"
"""Its one cloud subnet: every node and the load balancer; Swarm's ports admit only it."""
LOAD_BALANCER_IP = "10.42.0.2"
"""The load balancer's private address (Hetzner keeps 10.42.0.1 for the gateway)."""
NODE_VOLUME_GB = 10
"""The data volume of a node without the db role (Hetzner's smallest): it holds that
node's service folders (the proxy's certificates, the manager's stack files)."""
NODE_LABEL = "mailstack.node"
"""The Swarm node label each node carries with its own node id, for the app's
spread preference: Swarm spreads only over label values (`spread: node.id` is
silently ignored), and without a spread a node that failed a task a few times
(the app starting before its database) can end up holding every replica."""
MAX_POOLS = 20
"""Pool `p` takes 10.42.<p+1>.0/24, so a pool may grow without moving another's nodes."""


@dataclass(frozen=True)
class Node:
    """One server of a pool, with its fixed private address."""

    pool: NodePool
    pool_index: int
    number: int
    """1-based, within its pool."""

    @property
    def name(self) -> str:
        return f"{self.pool.name}-{self.number}"

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.pool.roles

    @property
    def private_ip(self) -> str:
        # Fixed by position, never handed out by Hetzner: Swarm advertises it,
        # so it must survive a replaced attachment. Pools are capped at
        # MAX_POOLS and 99 nodes (the config's pattern), within 10.42.0.0/17.
        return f"10.42.{self.pool_index + 1}.{self.number + 9}"


def cluster_nodes(pools: list[NodePool]) -> list[Node]:
    """Every node, pools in config order and nodes in count order; the first
    node of the manager pool first (it initialises the Swarm)."""
    nodes = [Node(p, i, n) for i, p in enumerate(pools) for n in range(1, p.count + 1)]
    first = next(n for n in nodes if Role.MANAGER in n.roles)
    return [first, *(n for n in nodes if n is not first)]


def db_node(nodes: list[Node]) -> Node:
    """The one node holding the db role (the config's rules make it exactly one)."""
    (db,) = [n for n in nodes if Role.DB in n.roles]
    return db
