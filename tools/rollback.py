"""Roll a service on a stack's server back to an earlier release, over its `sshCommand`.

    python -m tools.rollback --stack prod                    # the release before the current
    python -m tools.rollback --stack prod --to 3f2a9c81d0e4  # a given release
    python -m tools.rollback --stack prod --db               # ... and its database
    python -m tools.rollback --stack prod --list             # the recorded releases

`make rollback STACK=x [SERVICE=app] [TO=<release>] [DB=1]` and `make releases
STACK=x [SERVICE=app]` pass their values in the environment (MAILSTACK_STACK,
MAILSTACK_SERVICE, MAILSTACK_TO, MAILSTACK_DB). The server keeps each service's
releases (`mailstack-release` in the compose directory, docs/updates.md): the
image by id, the compose definition and the env file of each good release,
and the pre-update snapshot taken before each update. A rollback starts the
release's image and configuration again; with `--db` the databases first come
back from the pre-update snapshot taken when that release was last replaced.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from common.layout import HostLayout
from tools.day2 import (
    DEFAULT_DATA_DIR,
    PATH_RE,
    SERVICE_RE,
    STACK_RE,
    Day2Error,
    run,
    ssh_argv,
    ssh_base,
    valid,
)
from tools.stack_cli import StackError, stack_outputs

RELEASE_RE = re.compile(r"[0-9a-f]{12}")
"""A release id: 12 hex digits (mailstack-release)."""
RELEASE_SCRIPT = "mailstack-release"


def remote_words(
    data_dir: str, service: str, to: str, db: bool, list_only: bool = False
) -> list[str]:
    """What the server's shell runs: mailstack-release from the compose directory."""
    layout = HostLayout(data_dir=valid(PATH_RE, data_dir, "dataDir").rstrip("/"))
    service = valid(SERVICE_RE, service, "SERVICE")
    if list_only:
        action = ["history", service]
    else:
        action = ["rollback", service, valid(RELEASE_RE, to, "TO") if to else ""]
        if db:
            action.append("db")
    # The script runs where the deploy steps run it; BACKUP_BIN lets it restore
    # the databases with the backup tools (it is idle without `db`).
    return [
        "sh",
        "-c",
        'cd "$1" && shift && exec "$@"',
        "-",
        layout.compose_dir,
        "env",
        f"BACKUP_BIN={layout.bin_dir}",
        "bash",
        RELEASE_SCRIPT,
        *action,
    ]


def parser() -> argparse.ArgumentParser:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python -m tools.rollback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stack", default=env.get("MAILSTACK_STACK", ""))
    p.add_argument("--pulumi", default=env.get("PULUMI") or "pulumi")
    p.add_argument("--service", default=env.get("MAILSTACK_SERVICE") or "app")
    p.add_argument("--to", default=env.get("MAILSTACK_TO", ""), help="release id (12 hex)")
    p.add_argument(
        "--db",
        action="store_true",
        default=env.get("MAILSTACK_DB", "") not in ("", "0"),
        help="restore the databases from the release's pre-update snapshot",
    )
    p.add_argument("--list", action="store_true", help="print the recorded releases")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    what = "releases" if args.list else "rollback"
    try:
        stack = valid(STACK_RE, args.stack, "STACK")
        if os.environ.get("MAILSTACK_DB", "") not in ("", "0", "1"):
            raise Day2Error("DB must be 1 (restore the database too) or unset")
        outputs = stack_outputs(args.pulumi, stack)
        base = ssh_base(outputs, stack)
        data_dir = str(outputs.get("dataDir") or DEFAULT_DATA_DIR)
        words = remote_words(data_dir, args.service, args.to, args.db, args.list)
        return run(ssh_argv(base, words, tty=False), base[-1])
    except (Day2Error, StackError) as err:
        print(f"{what}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
