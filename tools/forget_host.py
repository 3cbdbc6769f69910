"""Forget a server that is gone: take the stack's remote steps out of its state.

Every remote step (pulumi-command `command:remote:*`) has a delete script that
runs on the server over SSH. When the server was deleted behind Pulumi's back
(in the console, by a failed rebuild, by the reaper), `pulumi destroy` runs
those scripts against an address that answers no more, or that Hetzner gave to
someone else: each dials for about ten minutes and the destroy fails. This
takes them out of the state unrun, dependents first, after a refresh has
confirmed that the server is gone; it refuses while the server is still there.
Then `pulumi up` makes a new server and runs every step on it again, or
`pulumi destroy` completes.

    python -m tools.forget_host --stack dev [--pulumi pulumi]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tools.stack_cli import StackError, run_pulumi, stack_name
from tools.teardown import SERVER_TYPE, remote_steps, urns


def forget_host(pulumi: str, stack: str) -> list[str]:
    """Drop the remote steps of `stack` once its server is gone; the URNs dropped."""
    # A refresh drops the server from the state if Hetzner no longer has it.
    run_pulumi(pulumi, ["refresh", "--stack", stack, "--yes", "--skip-preview"], timeout=1800)
    export = json.loads(run_pulumi(pulumi, ["stack", "export", "--stack", stack]))
    if urns(export, SERVER_TYPE):
        raise StackError(
            f"stack {stack!r} still has its server after a refresh: its steps' delete "
            "scripts can reach it, so nothing is dropped (use `pulumi destroy` or `pulumi up`)"
        )
    steps = remote_steps(export)
    for urn in steps:
        print(f"dropping {urn} (its delete script does not run)", file=sys.stderr)
        run_pulumi(pulumi, ["state", "delete", "--stack", stack, "--yes", urn])
    return steps


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.forget_host", description=__doc__)
    parser.add_argument("--stack", required=True, type=stack_name)
    parser.add_argument("--pulumi", default=os.environ.get("PULUMI", "pulumi"))
    args = parser.parse_args(argv)
    try:
        dropped = forget_host(args.pulumi, args.stack)
    except StackError as err:
        print(f"forget-host: {err}", file=sys.stderr)
        return 2
    print(
        f"{len(dropped)} remote steps dropped from {args.stack!r}: `pulumi up` now makes a "
        "new server and runs them all on it; `pulumi destroy` no longer dials the old one"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
