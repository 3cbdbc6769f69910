"""Read one field of a stack output for a make target, or say plainly why not.

    python -m tools.stack_output --stack prod [--pulumi pulumi] backup statusCommand

Prints the field (e.g. the server's backup status command) and exits 0. Without
the Pulumi CLI, without a deployed stack, or with backups off it prints one
line saying so and what to do, and exits 1: never a traceback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence

INSTALL_PULUMI = "install it (https://www.pulumi.com/docs/install/) and `pulumi login`"


class OutputError(Exception):
    """The output could not be read; the message says why and what to do."""


def read_output(pulumi: str, stack: str, output: str) -> object:
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "--stack", stack, "--json", output],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        message = f"this needs the Pulumi CLI ({pulumi!r} not found): {INSTALL_PULUMI}"
        raise OutputError(message) from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise OutputError(
            f"could not read output {output!r} of stack {stack!r}: {reason} "
            f"(is the stack deployed? `{pulumi} stack ls` lists them; `make up STACK={stack}`)"
        )
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        message = f"{pulumi} printed no JSON for output {output!r} of stack {stack!r}"
        raise OutputError(message) from None


def backup_field(pulumi: str, stack: str, field: str) -> str:
    backup = read_output(pulumi, stack, "backup")
    if isinstance(backup, dict) and backup.get("enabled") is False:
        raise OutputError(f"backups are off for stack {stack!r} (`backupEnabled: false`)")
    if not isinstance(backup, dict) or field not in backup:
        raise OutputError(f"stack {stack!r} has no backup {field} (deployed before backups?)")
    return str(backup[field])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_output", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pulumi", default="pulumi")
    parser.add_argument("output", choices=["backup"])
    parser.add_argument("field", help="e.g. statusCommand or restoreCommand")
    args = parser.parse_args(argv)
    try:
        print(backup_field(args.pulumi, args.stack, args.field))
    except OutputError as err:
        print(f"{err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
