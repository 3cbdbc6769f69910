"""Read a deployed stack through the Pulumi CLI, with errors an operator can act on.

Shared by `make check` and the day-2 commands: both start from `pulumi stack
output`, and both must say clearly when the CLI or the stack is missing
instead of showing a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from typing import Any


def stack_name(text: str) -> str:
    """An argparse type: a Pulumi stack name, refused before it reaches a command line."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a stack name")
    return text


class StackError(Exception):
    """The stack could not be read; the message says why and what to do."""


def run_pulumi(pulumi: str, args: list[str], timeout: int = 120) -> str:
    """`pulumi ARGS`'s stdout; a StackError that says what to do when it fails."""
    try:
        result = subprocess.run([pulumi, *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise StackError(
            f"the Pulumi CLI ({pulumi!r}) is not installed or not on PATH: install it "
            "(https://www.pulumi.com/docs/iac/download-install/) or set PULUMI=/path/to/pulumi"
        ) from None
    except subprocess.TimeoutExpired:
        raise StackError(
            f"`{pulumi} {' '.join(args[:3])}` did not answer within {timeout}s"
        ) from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no message)"]
        raise StackError(
            f"`pulumi {' '.join(args[:2])}` failed: {lines[-1]}. Does the stack exist "
            "(`pulumi stack ls`), and are you logged in to its backend?"
        )
    return result.stdout


def stack_outputs(pulumi: str, stack: str) -> dict[str, Any]:
    """The stack's outputs (secrets stay `[secret]`); raises StackError when there are none."""
    text = run_pulumi(pulumi, ["stack", "output", "--json", "--stack", stack])
    try:
        outputs = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise StackError(f"`pulumi stack output` for {stack!r} did not print JSON") from None
    if not isinstance(outputs, dict) or not outputs:
        raise StackError(f"stack {stack!r} has no outputs: has it been deployed (`make up`)?")
    return outputs


def config_secret(pulumi: str, stack: str, key: str) -> str:
    """One decrypted config value, for use in memory only (never print it)."""
    return run_pulumi(pulumi, ["config", "get", key, "--stack", stack]).rstrip("\n")
