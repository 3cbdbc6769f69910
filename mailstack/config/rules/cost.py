"""Cost: every server type the stack uses has a price (table or override)."""

from __future__ import annotations

from common.pricing import TABLE_DATE, price_table
from common.topology import NodePool
from mailstack.config.model import Problem, StackConfig


def priced(c: StackConfig) -> list[Problem]:
    if c.is_local:
        return []
    table = price_table(c.server.price_overrides)
    pools = [NodePool.parse(text) for text in c.server.node_pools]
    used = {("nodePools", p.server_type) for p in pools} or {("serverType", c.server.type)}
    return [
        Problem(
            key,
            f"no price for server type {server_type!r} in the table of {TABLE_DATE}; "
            f"add it to `priceOverrides`, e.g. '{server_type}=9.99' (EUR/month excl. VAT)",
        )
        for key, server_type in sorted(used)
        if server_type not in table
    ]
