"""What a stack costs per month: the resources it creates, priced from the table.

Pure: reads the validated config and the dated price table (common/pricing.py)
with the stack's `priceOverrides` applied; nothing here touches Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.pricing import (
    BACKUP_PERCENT,
    PRIMARY_IPV4,
    PRIMARY_IPV6,
    VOLUME_GB,
    Price,
    price_table,
)
from common.topology import NODE_VOLUME_GB, NodePool, Role
from mailstack.config import StackConfig

LOAD_BALANCER_TYPE = "lb11"
"""The load balancer in front of a multi-node stack (docs/scale-out.md)."""


@dataclass(frozen=True)
class LineItem:
    what: str
    price_key: str
    quantity: Decimal
    unit: Price

    @property
    def eur(self) -> Decimal:
        return self.quantity * self.unit.eur


def _nodes(config: StackConfig) -> list[tuple[str, str, int]]:
    """(node name, server type, volume GB) for every server the stack creates."""
    pools = [NodePool.parse(text) for text in config.server.node_pools]
    size = config.server.volume_size_gb
    if not pools:
        return [("server", config.server.type, size)]
    # The data volume on the db node; every other node has the smallest one
    # (mailstack/cluster_wiring.py).
    return [
        (name, pool.server_type, size if Role.DB in pool.roles else NODE_VOLUME_GB)
        for pool in pools
        for name in pool.node_names()
    ]


def line_items(config: StackConfig) -> list[LineItem]:
    """Every priced resource of the stack; the local stack creates none."""
    if config.is_local:
        return []
    table = price_table(config.server.price_overrides)
    one = Decimal(1)
    items: list[LineItem] = []
    nodes = _nodes(config)
    for name, server_type, _ in nodes:
        server = table[server_type]
        items.append(LineItem(f"server {name} ({server_type})", server_type, one, server))
        if config.server.backups:
            share = table[BACKUP_PERCENT].eur / 100
            backup = Price(server.eur * share, table[BACKUP_PERCENT].source, server.confirmed)
            items.append(LineItem(f"backups of {name}", BACKUP_PERCENT, one, backup))
        items.append(LineItem(f"primary IPv4 of {name}", PRIMARY_IPV4, one, table[PRIMARY_IPV4]))
        items.append(LineItem(f"primary IPv6 of {name}", PRIMARY_IPV6, one, table[PRIMARY_IPV6]))
    for name, _, size in nodes:
        what = "data volume (GB)" if len(nodes) == 1 else f"data volume of {name} (GB)"
        items.append(LineItem(what, VOLUME_GB, Decimal(size), table[VOLUME_GB]))
    if len(nodes) > 1:
        lb = table[LOAD_BALANCER_TYPE]
        items.append(LineItem(f"load balancer ({LOAD_BALANCER_TYPE})", LOAD_BALANCER_TYPE, one, lb))
    return items


def monthly_cost_eur(config: StackConfig) -> float:
    """The stack's EUR per month excluding VAT, rounded to the cent."""
    total = sum((item.eur for item in line_items(config)), Decimal(0))
    return float(total.quantize(Decimal("0.01")))


def unconfirmed(config: StackConfig) -> list[str]:
    """Price keys the total uses that no source confirmed (sorted, each once)."""
    return sorted({i.price_key for i in line_items(config) if not i.unit.confirmed})
