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
