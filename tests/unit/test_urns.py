"""No deployed resource is replaced by a rename: every URN of the committed stacks survives.

tests/unit/urns/<stack>.txt holds the URNs the stacks had when they were
first deployed with these names (before the components were renamed to match
their type tokens), in the engine's shape: a URN's type part is the whole chain
of its ancestors' types, root stack left out. The mock engine keeps only the
parent's type, so the URNs here are rebuilt from the registrations' parent
chain.

A renamed component carries its old type token as an alias. The check replays
the engine's alias matching (pulumi's step generator, `generateAliases`): a
resource matches an old URN through its own aliases under its current parent,
or, once its parent matched an old URN, through that old URN as the parent's
with its own type or an alias type ("inherited child aliases"). That second
rule is what carries a rename two levels down: ComposeProject (was Stack) →
ServiceDeployment (was Service) → their commands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import STACKS
from tools.harness import Registration, Run

URNS = Path(__file__).parent / "urns"
ROOT_STACK = "pulumi:pulumi:Stack"


def _urn(head: str, qualified: str, name: str) -> str:
    return f"{head}::{qualified}::{name}"


def _qualified(reg: Registration, by_urn: dict[str, Registration]) -> str:
    """The engine's type part of `reg`'s URN: every ancestor's type, then its own."""
    parent = by_urn.get(reg.parent)
    if parent is None or parent.type == ROOT_STACK:
        return reg.type
    return f"{_qualified(parent, by_urn)}${reg.type}"


def _engine_urns(run: Run) -> tuple[dict[str, str], dict[str, str]]:
    """Each registration's URN as the engine makes it, and the old URN each one
    matches through aliases, replayed in registration order as the engine does."""
    by_urn = run.by_urn()
    head = "::".join(run.registrations[0].urn.split("::")[:2])
    old = set((URNS / f"{run.stack}.txt").read_text().split())
    current: dict[str, str] = {}
    matched: dict[str, str] = {}
    for reg in run.registrations:
        qualified = _qualified(reg, by_urn)
        current[reg.urn] = _urn(head, qualified, reg.name)
        parent_part = qualified.rpartition("$")[0]
        # Each alias spec swaps one part: the type, or the name.
        known = [(reg.type, reg.name)]
        known += [(t, reg.name) for t in reg.alias_types]
        known += [(reg.type, n) for n in reg.alias_names]
        candidates = [_urn(head, f"{parent_part}${t}" if parent_part else t, n) for t, n in known]
        if reg.parent in matched:
            old_parent = matched[reg.parent].split("::")[2]
            candidates += [_urn(head, f"{old_parent}${t}", n) for t, n in known]
        hits = [c for c in dict.fromkeys(candidates) if c in old]
        assert len(hits) <= 1, f"{reg.urn} matches several old URNs: {hits}"
        if hits:
            matched[reg.urn] = hits[0]
    return current, matched


def lost_urns(run: Run) -> list[str]:
    """The URNs of the deployed stack that no registration of `run` matches."""
    _, matched = _engine_urns(run)
    deployed = (URNS / f"{run.stack}.txt").read_text().split()
    assert deployed
    return [urn for urn in deployed if urn not in matched.values()]


@pytest.mark.parametrize("stack", STACKS)
def test_every_deployed_urn_is_kept_or_aliased(stack: str, stack_runs: dict[str, Run]) -> None:
    run = stack_runs[stack]
    lost = lost_urns(run)
    assert not lost, f"would be replaced (no URN or alias matches): {lost}"
    # The renamed components do carry their old type tokens.
    if stack != "local":
        assert run.named("services").alias_types == ["mailstack:services:Stack"]


def test_without_the_aliases_the_renamed_components_would_be_replaced(
    stack_runs: dict[str, Run],
) -> None:
    """The check above is not vacuous: the URNs themselves did change, two levels
    deep included, and without the inherited aliases the commands would be lost."""
    run = stack_runs["dev"]
    current, matched = _engine_urns(run)
    deployed = (URNS / "dev.txt").read_text().split()
    changed = [urn for urn in deployed if urn not in current.values()]
    deploy = "mailstack:services:Stack$mailstack:services:Service$command:remote:Command"
    assert any(f"::{deploy}::" in urn for urn in changed)
    # A grandchild is matched only through its parent's old URN.
    grandchildren = [u for u in matched.values() if f"::{deploy}::" in u]
    assert grandchildren
    for urn in grandchildren:
        reg = next(r for r in run.registrations if matched.get(r.urn) == urn)
        assert current[reg.urn] != urn
