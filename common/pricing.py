"""Hetzner Cloud list prices: a dated table, each figure with where it comes from.

EUR per month, excluding VAT, Germany/Finland locations. Hetzner bills hourly up
to these monthly caps and changes prices (1 April 2026 raised the whole cloud
portfolio, 15 June 2026 repriced new orders), so every figure says its source and
whether a source confirmed it; `priceOverrides` in the stack config replaces any
entry. Figures are Decimals so sums are exact to the cent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

TABLE_DATE = "2026-04-15"
"""The date of the newest confirmed figure below (the third-party cost page)."""

_VDHOME = "docs.vdhome.be/reference/costs (third party, 'actual -- 2026-04-15')"
_API = "Hetzner Cloud API pricing: server_backup.percentage (metacpan WWW::Hetzner::Cloud::Pricing)"
_MEMORY = (
    "unconfirmed: last known list price before the 2026-04-01 adjustment, no source "
    "found; likely too low, set priceOverrides"
)


@dataclass(frozen=True)
class Price:
    eur: Decimal
    source: str
    confirmed: bool


def _p(eur: str, source: str = _MEMORY, confirmed: bool = False) -> Price:
    return Price(Decimal(eur), source, confirmed)


BACKUP_PERCENT = "backup-percent"
VOLUME_GB = "volume-gb"
PRIMARY_IPV4 = "primary-ipv4"
PRIMARY_IPV6 = "primary-ipv6"

PRICES: dict[str, Price] = {
    # Shared vCPU, cost-optimised (x86).
    "cx23": _p("3.99", _VDHOME, True),
    "cx33": _p("6.49", _VDHOME, True),
    "cx43": _p("9.49"),
    "cx53": _p("17.49"),
    # Shared vCPU, AMD.
    "cpx12": _p("5.99"),
    "cpx22": _p("7.99"),
    "cpx32": _p("13.99"),
    "cpx42": _p("25.49"),
    "cpx52": _p("36.49"),
    "cpx62": _p("51.99"),
    # Dedicated vCPU.
    "ccx13": _p("12.49"),
    "ccx23": _p("24.49"),
    "ccx33": _p("48.49"),
    "ccx43": _p("96.49"),
    "ccx53": _p("192.49"),
    "ccx63": _p("288.49"),
    # Load balancers.
    "lb11": _p("5.39"),
    "lb21": _p("16.40"),
    "lb31": _p("32.90"),
    # Per GB of volume, per primary IP, and the backup option in percent of the server.
    VOLUME_GB: _p("0.044"),
    PRIMARY_IPV4: _p("0.50"),
    PRIMARY_IPV6: _p("0.00", "unconfirmed: Hetzner does not charge primary IPv6 (no source found)"),
    BACKUP_PERCENT: _p("20", _API, True),
}

OVERRIDE_PATTERN = re.compile(r"(?P<key>[a-z][a-z0-9-]{1,31})=(?P<eur>\d{1,6}(?:\.\d{1,4})?)")
"""`key=EUR`, e.g. `cx23=4.49`: matched with fullmatch."""


TYPE_PATTERN = re.compile(r"[a-z]{2,4}\d{1,3}")
"""A server or load balancer type name: an override may price one the table lacks."""


def overridable(key: str) -> bool:
    return key in PRICES or TYPE_PATTERN.fullmatch(key) is not None


def parse_override(text: str) -> tuple[str, Decimal] | None:
    """The key and price of one `priceOverrides` entry, None when it is malformed."""
    match = OVERRIDE_PATTERN.fullmatch(text)
    if match is None:
        return None
    return match["key"], Decimal(match["eur"])


def price_table(overrides: list[str]) -> dict[str, Price]:
    """The table with the (already validated) overrides applied."""
    table = dict(PRICES)
    for text in overrides:
        parsed = parse_override(text)
        if parsed is None or not overridable(parsed[0]):
            raise ValueError(f"invalid price override {text!r}")
        table[parsed[0]] = Price(parsed[1], "priceOverrides", True)
    return table
