"""Day-2 commands on a stack's server, over its `sshCommand` output.

    python -m tools.day2 --stack prod status
    python -m tools.day2 --stack prod logs [--service app] [--tail 200]
    python -m tools.day2 --stack prod exec --service db --command 'psql -U listmonk'
    python -m tools.day2 --stack prod ssh

`make status|logs|exec|ssh STACK=x [SERVICE=...] [CMD=...]` pass their values
in the environment (MAILSTACK_STACK, MAILSTACK_SERVICE, MAILSTACK_CMD), never
through the shell. Every value is checked whole before use, and the remote
command is one shell-quoted string: ssh hands it to the server's shell, which
must see exactly the words given here. The services run as the compose
project `mailstack-<stack>` in `<dataDir>/compose`.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from common.layout import SERVER_DATA_DIR, HostLayout
from tools.stack_cli import StackError, stack_outputs

STACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SERVICE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
TAIL_RE = re.compile(r"[0-9]{1,6}|all")
PATH_RE = re.compile(r"/[A-Za-z0-9._/-]{0,200}")
# What `HardenedServer` exports: `ssh <user>@<address>`, maybe with a port.
SSH_RE = re.compile(
    r"ssh(?: -p (?P<port>[0-9]{1,5}))? (?P<user>[a-z_][a-z0-9_-]{0,31})@"
    r"(?P<host>[0-9.]{7,15}|[0-9A-Fa-f:]{2,39}|[A-Za-z0-9.-]{1,253})"
)
DEFAULT_DATA_DIR = SERVER_DATA_DIR


class Day2Error(Exception):
    """A bad value or a missing prerequisite; the message says what to do."""


def valid(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise Day2Error(f"{what} {value!r} is not valid (allowed: {pattern.pattern})")
    return value


def ssh_base(outputs: Mapping[str, Any], stack: str) -> list[str]:
    """The stack's SSH command as argv, refused unless it has the shape the stack exports."""
    command = outputs.get("sshCommand")
    if not command:
        raise Day2Error(
            f"stack {stack!r} has no sshCommand output: it runs no server of its own "
            "(the local stack: use `docker compose -p mailstack-local` here)"
        )
    match = SSH_RE.fullmatch(str(command))
    if not match:
        raise Day2Error(f"stack {stack!r}: unexpected sshCommand {command!r}")
    argv = ["ssh", "-o", "ConnectTimeout=15"]
    if match["port"]:
        argv += ["-p", match["port"]]
    return [*argv, f"{match['user']}@{match['host']}"]


def compose(outputs: Mapping[str, Any], stack: str) -> list[str]:
    """`docker compose` for the stack's project, from any working directory."""
    data_dir = valid(PATH_RE, str(outputs.get("dataDir") or DEFAULT_DATA_DIR), "dataDir")
    layout = HostLayout.for_stack(stack, data_dir.rstrip("/"))
    directory = layout.compose_dir
    return [
        "sudo",
        "-n",
        "docker",
        "compose",
        "--project-name",
        layout.project,
        "--project-directory",
        directory,
        "--file",
        f"{directory}/compose.yaml",
    ]


def remote_words(
    action: str, outputs: Mapping[str, Any], stack: str, args: argparse.Namespace, tty: bool
) -> list[str]:
    """The words the server's shell must run for `action` (empty for a login shell)."""
    if action == "ssh":
        return []
    base = compose(outputs, stack)
    if action == "status":
        return [*base, "ps", "--all"]
    if action == "logs":
        tail = valid(TAIL_RE, args.tail, "TAIL")
        only = [valid(SERVICE_RE, args.service, "SERVICE")] if args.service else []
        return [*base, "logs", "--timestamps", "--tail", tail, *only]
    if not args.service:
        raise Day2Error("exec needs SERVICE (e.g. make exec SERVICE=db CMD='psql -U listmonk')")
    service = valid(SERVICE_RE, args.service, "SERVICE")
    if not args.command.strip():
        raise Day2Error("exec needs CMD (e.g. make exec SERVICE=app CMD='sh')")
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", args.command):
        raise Day2Error("CMD must be one line without control characters")
    try:
        command = shlex.split(args.command)
    except ValueError as err:
        raise Day2Error(f"CMD {args.command!r} does not parse: {err}") from None
    return [*base, "exec", *([] if tty else ["-T"]), service, *command]


def ssh_argv(base: Sequence[str], words: Sequence[str], tty: bool) -> list[str]:
    """ssh with the remote command as one quoted string (ssh joins its words with spaces)."""
    if not words:
        return list(base)
    return [base[0], *(["-t"] if tty else []), *base[1:], "--", shlex.join(words)]


def run(argv: Sequence[str], target: str) -> int:
    try:
        status = subprocess.run(list(argv)).returncode
    except FileNotFoundError:
        raise Day2Error("ssh is not installed: install OpenSSH's client") from None
    if status == 255:
        raise Day2Error(
            f"SSH to {target} failed (exit 255): connect from an address in the stack's "
            "`adminCidrs` with one of its `sshPublicKeys`' private keys"
        )
    return status


def parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python -m tools.day2",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stack", default=env.get("MAILSTACK_STACK", ""))
    p.add_argument("--pulumi", default=env.get("PULUMI") or "pulumi")
    p.add_argument("--service", default=env.get("MAILSTACK_SERVICE", ""))
    p.add_argument("--command", default=env.get("MAILSTACK_CMD", ""))
    p.add_argument("--tail", default=env.get("MAILSTACK_TAIL") or "200")
    p.add_argument("action", choices=["status", "logs", "exec", "ssh"])
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        stack = valid(STACK_RE, args.stack, "STACK")
        tty = sys.stdin.isatty() and sys.stdout.isatty()
        outputs = stack_outputs(args.pulumi, stack)
        base = ssh_base(outputs, stack)
        words = remote_words(args.action, outputs, stack, args, tty)
        return run(ssh_argv(base, words, tty or args.action == "ssh"), base[-1])
    except (Day2Error, StackError) as err:
        print(f"{args.action}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
