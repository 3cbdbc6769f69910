"""Deterministic stand-ins for what providers compute (ids, addresses, keys).

Keyed by resource type token; each returns the outputs a real provider would
add to the inputs. Unknown types just echo their inputs. Values come from the
documentation ranges (RFC 5737, RFC 3849) so they can never hit a real host.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

Faker = Callable[[str, dict[str, Any]], dict[str, Any]]


def _n(name: str, modulo: int) -> int:
    """A stable small number derived from a resource name."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % modulo


def _primary_ip(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("type") == "ipv6":
        return {"ipAddress": f"2001:db8:{_n(name, 0xFFFF):x}::1", "ipNetwork": "2001:db8::/64"}
    return {"ipAddress": f"203.0.113.{1 + _n(name, 250)}"}


def _server(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"ipv4Address": f"203.0.113.{1 + _n(name, 250)}", "status": "running"}


def _random_password(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # A placeholder, not a password: `make local` swaps it for a real local one.
    return {"result": f"<secret:random:{name}>"}


FAKERS: dict[str, Faker] = {
    "random:index/randomPassword:RandomPassword": _random_password,
    "hcloud:index/primaryIp:PrimaryIp": _primary_ip,
    "hcloud:index/server:Server": _server,
}


def fake_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    faker = FAKERS.get(type_)
    return faker(name, inputs) if faker else {}
