"""Turn mock registrations into the `PolicyResource` objects the Pulumi CLI would pass."""

from __future__ import annotations

from typing import Any

from mailstack_policy.rules import PolicyRule
from pulumi_policy import PolicyResource
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions

from tools.harness import Run, mask_secrets


def policy_resources(run: Run) -> list[PolicyResource]:
    return [
        resource(
            r.type,
            r.name,
            mask_secrets(r.inputs),
            urn=r.urn,
            protect=r.protect,
            ignore_changes=r.ignore_changes,
            secret_outputs=r.additional_secret_outputs,
        )
        for r in run.registrations
    ]


def resource(
    type_: str,
    name: str,
    props: dict[str, Any],
    *,
    stack: str = "dev",
    urn: str = "",
    protect: bool = False,
    ignore_changes: list[str] | None = None,
    secret_outputs: list[str] | None = None,
) -> PolicyResource:
    opts = PolicyResourceOptions(
        protect=protect,
        ignore_changes=ignore_changes or [],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=secret_outputs or [],
    )
    urn = urn or f"urn:pulumi:{stack}::mailstack::{type_}::{name}"
    return PolicyResource(type_, props, urn, name, opts, None, None, [], {})


def run_rule(rule: PolicyRule, resources: list[PolicyResource]) -> list[str]:
    return rule.check(resources)
