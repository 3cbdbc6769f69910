"""Which steps a throwaway's teardown must drop from state instead of deleting.

The reaper deletes an expired throwaway's server (and its volume and primary
IPs) through the Hetzner API, behind Pulumi's back. A later `make destroy`
refreshes the stack first, which drops what the reaper deleted from the state;
what remains are the remote steps (pulumi-command `command:remote:*`), whose
provider never looks at the host on refresh. Destroying them would run their
`delete` scripts over SSH against the old address: each dials for minutes and
fails, and Hetzner may have handed the address to someone else meanwhile, so
the script could run on a stranger's server. With no server left in the state,
every remote step's host is gone (the program has one server per stack), so
`scripts/throwaway.sh destroy` removes them with `pulumi state delete` and
only then runs `pulumi destroy` for the rest.

    pulumi stack export --stack S | python -m mailstack.teardown orphaned-steps

prints their URNs one per line, dependents first (the order `pulumi state
delete` accepts: it refuses a resource that another one still depends on).
Standard library only, as the other throwaway tooling.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

SERVER_TYPE = "hcloud:index/server:Server"
REMOTE_STEP_PREFIX = "command:remote:"


def resources_of(export: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resources of `pulumi stack export` output (an empty stack has none)."""
    return list((export.get("deployment") or {}).get("resources") or [])


def orphaned_steps(export: Mapping[str, Any]) -> list[str]:
    """URNs of the remote steps whose host is gone, dependents first.

    A checkpoint lists resources in dependency order (each after what it
    depends on), so the reverse is an order in which each can be removed.
    """
    resources = resources_of(export)
    if any(r.get("type") == SERVER_TYPE for r in resources):
        return []
    steps = [
        str(r["urn"]) for r in resources if str(r.get("type", "")).startswith(REMOTE_STEP_PREFIX)
    ]
    return steps[::-1]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m mailstack.teardown")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("orphaned-steps", help="read `pulumi stack export` on stdin, print URNs")
    parser.parse_args(argv)
    for urn in orphaned_steps(json.load(sys.stdin)):
        print(urn)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
