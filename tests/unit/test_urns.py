"""No deployed resource is replaced by a rename: every URN of the committed stacks survives.

tests/unit/urns/<stack>.txt holds the URNs the stacks had when they were
first deployed with these names (recorded before the components were renamed
to match their type tokens). A renamed component carries its old type token
as an alias; the engine gives each of its children the aliases their
parent's aliases imply (Pulumi's inherited child aliases), so a URN is kept
when it equals the new one with the parent's or its own type swapped for an
alias.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import STACKS
from tools.harness import Registration, Run

URNS = Path(__file__).parent / "urns"


def _known_as(reg: Registration, by_urn: dict[str, Registration]) -> set[str]:
    """Every URN the engine would match `reg` to: its own, and through aliases.

    A URN's type part is the parent's type, `$`, the resource's own type; a
    parent's alias (or the resource's own) swaps that part.
    """
    head = reg.urn.split("::")[:2]  # urn:pulumi:<stack>, <project>
    qualified = reg.urn.split("::")[2].split("$")
    own = [reg.type, *reg.alias_types]
    parent = by_urn.get(reg.parent)
    # Without a recorded parent: the root stack's type, or nothing.
    parents = [parent.type, *parent.alias_types] if parent is not None else qualified[:-1]
    return {
        "::".join([*head, "$".join([p, t] if p else [t]), reg.name])
        for p, t in itertools.product(parents or [""], own)
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_deployed_urn_is_kept_or_aliased(stack: str, stack_runs: dict[str, Run]) -> None:
    run = stack_runs[stack]
    by_urn = run.by_urn()
    known = set().union(*(_known_as(r, by_urn) for r in run.registrations))
    deployed = (URNS / f"{stack}.txt").read_text().split()
    assert deployed
    lost = [urn for urn in deployed if urn not in known]
    assert not lost, f"would be replaced (no URN or alias matches): {lost}"
    # The renamed components do carry their old type tokens.
    if stack != "local":
        assert run.named("services").alias_types == ["mailstack:services:Stack"]


def test_without_the_aliases_the_renamed_components_would_be_replaced(
    stack_runs: dict[str, Run],
) -> None:
    """The check above is not vacuous: the URNs themselves did change."""
    run = stack_runs["dev"]
    current = {r.urn for r in run.registrations}
    deployed = (URNS / "dev.txt").read_text().split()
    changed = [urn for urn in deployed if urn not in current]
    assert any("mailstack:services:Stack" in urn for urn in changed)
    assert any("mailstack:services:Service$" in urn for urn in changed)
