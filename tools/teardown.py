"""Which resources a throwaway's teardown, or a new runner's redeploy, must
take out of the state by hand.

A throwaway's remote steps (pulumi-command `command:remote:*`) configure a host
that is deleted with the server. Their `delete` scripts undo things on that
host only, so they have nothing to do when the whole server goes, and running
them is a way to fail: after the reaper deleted the server they dial the old
address for minutes (which Hetzner may have handed to someone else, so they
could even run on a stranger's server), and from a CI runner that the host's
own firewall does not admit they never connect. So `scripts/throwaway.sh`
removes them with `pulumi state delete` before it destroys or re-creates the
server; the provider never looks at the host on refresh, so nothing else
takes them out.

    pulumi stack export --stack S | python -m tools.teardown remote-steps
    pulumi stack export --stack S | python -m tools.teardown urns hcloud:index/server:Server

print URNs one per line; remote steps dependents first (the order `pulumi state
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
FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
REMOTE_STEP_PREFIX = "command:remote:"


def resources_of(export: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resources of `pulumi stack export` output (an empty stack has none)."""
    return list((export.get("deployment") or {}).get("resources") or [])


def urns(export: Mapping[str, Any], type_: str) -> list[str]:
    return [str(r["urn"]) for r in resources_of(export) if r.get("type") == type_]


def remote_steps(export: Mapping[str, Any]) -> list[str]:
    """URNs of every remote step, dependents first.

    A checkpoint lists resources in dependency order (each after what it
    depends on), so the reverse is an order in which each can be removed.
    """
    steps = [
        str(r["urn"])
        for r in resources_of(export)
        if str(r.get("type", "")).startswith(REMOTE_STEP_PREFIX)
    ]
    return steps[::-1]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.teardown")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("remote-steps", help="read `pulumi stack export` on stdin, print URNs")
    of_type = sub.add_parser("urns", help="the URNs of one resource type in the export")
    of_type.add_argument("type")
    args = parser.parse_args(argv)
    export = json.load(sys.stdin)
    found = remote_steps(export) if args.command == "remote-steps" else urns(export, args.type)
    for urn in found:
        print(urn)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
