"""The stack as a whole: its name, environment, target and throwaway marks."""

from __future__ import annotations

import re

from common import labels
from common.enums import Environment
from mailstack.config.model import Problem, StackConfig


def stack_name_matches_environment(stack: str, c: StackConfig) -> list[Problem]:
    """The stack named `prod` is the prod environment, and no other stack is.

    Protection, the SSH rule and required backups follow `environment`; the
    policy pack and the throwaway reaper recognise prod by the stack's name. A
    `prod` stack with `environment: dev` would silently drop the first, and an
    `environment: prod` stack under another name would escape the second.
    """
    if (stack == "prod") == c.is_prod:
        return []
    return [
        Problem(
            "environment",
            f"stack {stack!r} has environment {c.stack.environment.value!r}: the stack "
            "named 'prod' must have `environment: prod`, and only it may",
        )
    ]


def stack_name_is_a_project_name(stack: str) -> list[Problem]:
    """The stack's name is part of its compose project name (`mailstack-<stack>`),
    which Compose takes only as lowercase letters, digits, `_` and `-`; Pulumi
    allows more (`.`, capitals), which would fail on the host at the first deploy."""
    if re.fullmatch(r"[a-z0-9_-]{1,40}", stack):
        return []
    return [
        Problem(
            "stack",
            f"the stack name {stack!r} cannot name a compose project: use lowercase "
            "letters, digits, '_' and '-' (at most 40), e.g. 'pr-42'",
            namespace="pulumi",
        )
    ]


def target_matches_environment(c: StackConfig) -> list[Problem]:
    local_env = c.stack.environment is Environment.LOCAL
    if local_env != c.is_local:
        return [
            Problem(
                "target",
                "`local` target goes with the `local` environment and only "
                f"with it (environment is {c.stack.environment.value!r})",
            )
        ]
    return []


def throwaway_marks(c: StackConfig) -> list[Problem]:
    """Only throwaway stacks expire, and their labels are how the reaper finds them.

    prod must never carry an expiry or a throwaway label (the reaper deletes by
    label); a stack labelled throwaway must expire on the date its label says.
    """
    if c.is_prod:
        problems = [
            Problem(f"serverLabels[{i}]", f"{item!r}: prod must not carry a throwaway label")
            for i, item in enumerate(c.server.labels)
            if item.partition("=")[0] in labels.THROWAWAY_ONLY_LABELS
        ]
        if c.stack.expires_at:
            problems.append(Problem("expiresAt", "prod never expires: remove `expiresAt`"))
        return problems
    marks = labels.parse_labels(c.server.labels)
    if marks.get(labels.KIND_LABEL) != labels.THROWAWAY:
        return []
    expires = marks.get(labels.EXPIRES_LABEL, "")
    if not c.stack.expires_at or expires != c.stack.expires_at:
        return [
            Problem(
                "expiresAt",
                f"a stack labelled {labels.KIND_LABEL}={labels.THROWAWAY} must set "
                f"`expiresAt` to its {labels.EXPIRES_LABEL} label ({expires or 'missing'})",
            )
        ]
    return []
