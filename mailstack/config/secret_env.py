"""`appSecretEnv`: a secret object of NAME: value, read without ever showing a value.

Set one variable at a time with `pulumi config set --secret --path
'appSecretEnv.NAME' VALUE`: Pulumi encrypts each value on its own, the names
stay readable in the stack file (a reviewer sees which variables exist), and
adding one leaves the others' ciphertext alone. A whole object set as one
secret JSON string works the same. Either way the program receives one secret
key holding JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from common.app_env import is_env_name
from mailstack.config.model import Problem

SECRET_ENV_KEY = "appSecretEnv"  # noqa: S105 (a key name, not a secret)
_UNSAFE_VALUE = re.compile(r"['\x00-\x1f\x7f]")
"""Env files quote values with `'` (compose then leaves `$` alone) and hold one per line."""


def read_secret_env(raw: Any, placeholder: str) -> tuple[tuple[str, ...], list[Problem]]:
    """The variable names in `raw`, and what is wrong with it (values never shown)."""
    if raw in (None, "", placeholder):
        return (), []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        return (), [
            Problem(
                SECRET_ENV_KEY,
                "expected an object of NAME: value (the value is a secret, so not shown); "
                f"set one with `pulumi config set --secret --path '{SECRET_ENV_KEY}.NAME' ...`",
            )
        ]
    problems = []
    for name, item in sorted(value.items()):
        where = f"{SECRET_ENV_KEY}.{name}"
        if not is_env_name(name):
            problems.append(
                Problem(where, "is not an environment variable name; expected e.g. 'API_KEY'")
            )
        elif not isinstance(item, str) or _UNSAFE_VALUE.search(item):
            problems.append(
                Problem(
                    where,
                    "must be one line of text without `'` (the value is a secret, so not shown)",
                )
            )
    return tuple(sorted(value)), problems
