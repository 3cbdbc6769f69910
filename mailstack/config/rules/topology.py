"""Topology: node pools that make one Swarm with one database."""

from __future__ import annotations

from common.topology import MAX_POOLS, NodePool, Role, pools_with
from mailstack.config.model import Problem, StackConfig


def node_pools(c: StackConfig) -> list[Problem]:
    if not c.server.node_pools:
        return []
    if c.is_local:
        return [Problem("nodePools", "the local stack runs on one Docker engine; leave it empty")]
    pools = [NodePool.parse(text) for text in c.server.node_pools]
    problems = [*_shape(pools), *_roles(pools), *_backups(c, pools)]
    return [Problem("nodePools", message) for message in problems]


def _shape(pools: list[NodePool]) -> list[str]:
    problems = []
    names = [p.name for p in pools]
    if len(names) != len(set(names)):
        problems.append("pool names must differ")
    if len(pools) > MAX_POOLS:
        problems.append(f"at most {MAX_POOLS} pools (each takes a /24 of the private network)")
    return problems


def _roles(pools: list[NodePool]) -> list[str]:
    problems = []
    managers = pools_with(pools, Role.MANAGER)
    if len(managers) != 1 or managers[0].count % 2 == 0:
        # Raft needs a majority: an odd number of managers, all in one pool.
        problems.append("exactly one pool must hold the manager role, with an odd count")
    if sum(p.count for p in pools_with(pools, Role.DB)) != 1:
        problems.append("exactly one node must hold the db role (the volume lives there)")
    for role in (Role.PROXY, Role.APP):
        if not pools_with(pools, role):
            problems.append(f"at least one pool must hold the {role.value} role")
    return problems


def _backups(c: StackConfig, pools: list[NodePool]) -> list[str]:
    db = pools_with(pools, Role.DB)
    if not c.backup.enabled or not db or Role.MANAGER in db[0].roles:
        return []
    # The backups run on the db node, and a restore stops and starts the app
    # on every node: scaling services is a manager's API.
    return [
        "with backups on, the db node must also hold the manager role (its restore "
        "scales the app's services across the Swarm), e.g. db:1:cx33:manager+db"
    ]
