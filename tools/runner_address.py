"""The address a CI runner's SSH connections come from, as an `adminCidrs` entry.

A GitHub-hosted runner sits behind NAT: nothing on the machine knows the
address the server will see, so it has to ask something outside. It asks
Cloudflare's trace endpoint (`https://1.1.1.1/cdn-cgi/trace`, answered by
Cloudflare, which already holds the stack's DNS and whose IP-literal address
needs no DNS lookup), whose `ip=` line is the caller's address. The answer is
trusted only as far as it is checked: one global unicast address, nothing
private, reserved or a network.

    curl -4 -fsS https://1.1.1.1/cdn-cgi/trace | python -m tools.runner_address

prints `<address>/32` (`/128` for IPv6). Standard library only.
"""

from __future__ import annotations

import ipaddress
import re
import sys

TRACE_URL = "https://1.1.1.1/cdn-cgi/trace"


def runner_cidr(trace: str) -> str:
    """The single-host CIDR of the `ip=` line of a Cloudflare trace answer."""
    found = re.findall(r"^ip=(\S+)$", trace, flags=re.MULTILINE)
    if len(found) != 1:
        raise ValueError(f"expected one ip= line in the trace answer, found {len(found)}")
    try:
        address = ipaddress.ip_address(found[0])
    except ValueError:
        raise ValueError(f"{found[0]!r} is not an IP address") from None
    if not address.is_global or address.is_multicast:
        raise ValueError(f"{address} is not a public unicast address")
    return f"{address}/{address.max_prefixlen}"


def main() -> int:
    try:
        print(runner_cidr(sys.stdin.read()))
    except ValueError as err:
        print(f"runner address: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
