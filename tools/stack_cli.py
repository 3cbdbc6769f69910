"""Read a deployed stack through the Pulumi CLI, with errors an operator can act on.

Shared by `make check` and the day-2 commands: both start from `pulumi stack
output`, and both must say clearly when the CLI or the stack is missing
instead of showing a traceback.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


class StackError(Exception):
    """The stack could not be read; the message says why and what to do."""


def _run_pulumi(pulumi: str, args: list[str]) -> str:
    try:
        result = subprocess.run([pulumi, *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise StackError(
            f"the Pulumi CLI ({pulumi!r}) is not installed or not on PATH: install it "
            "(https://www.pulumi.com/docs/iac/download-install/) or set PULUMI=/path/to/pulumi"
        ) from None
    except subprocess.TimeoutExpired:
        raise StackError(f"`{pulumi} {' '.join(args[:3])}` did not answer within 120s") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no message)"]
        raise StackError(
            f"`pulumi {' '.join(args[:2])}` failed: {lines[-1]}. Does the stack exist "
            "(`pulumi stack ls`), and are you logged in to its backend?"
        )
    return result.stdout


def stack_outputs(pulumi: str, stack: str) -> dict[str, Any]:
    """The stack's outputs (secrets stay `[secret]`); raises StackError when there are none."""
    text = _run_pulumi(pulumi, ["stack", "output", "--json", "--stack", stack])
    try:
        outputs = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise StackError(f"`pulumi stack output` for {stack!r} did not print JSON") from None
    if not isinstance(outputs, dict) or not outputs:
        raise StackError(f"stack {stack!r} has no outputs: has it been deployed (`make up`)?")
    return outputs


def config_secret(pulumi: str, stack: str, key: str) -> str:
    """One decrypted config value, for use in memory only (never print it)."""
    return _run_pulumi(pulumi, ["config", "get", key, "--stack", stack]).rstrip("\n")
