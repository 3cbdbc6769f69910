"""Shared fixtures: run the program (or one component) under mocks, per test.

`run_stack("prod")` evaluates the whole program with the committed stack file;
`run_stack("dev", set={"serverType": "cx33"}, unset=["adminCidrs"])` changes
keys first; `run_component(fn)` runs any callable that creates resources.
Each call gets a fresh recording monitor, so tests never see each other's
registrations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import hypothesis
import pytest

from mailstack.config import PROJECT
from tools.harness import Run, read_stack_config, run_program
from tools.synth import with_placeholder_secrets

# No wall-clock limit on a test (the team's rule): Hypothesis's default 200 ms
# deadline fails examples that run a real shell or tool on a loaded machine.
hypothesis.settings.register_profile("mailstack", deadline=None)
hypothesis.settings.load_profile("mailstack")

STACKS = ("local", "dev", "prod")

RunStack = Callable[..., Run]


def stack_config(
    stack: str,
    set: Mapping[str, Any] | None = None,  # noqa: A002 (mirrors `pulumi config set`)
    unset: Iterable[str] = (),
    secrets: Mapping[str, str] | None = None,
    placeholder_secrets: bool = True,
) -> tuple[dict[str, str], set[str]]:
    """A stack's config as the CLI would pass it, with edits applied."""
    import json

    config, secret_keys = read_stack_config(stack)
    if placeholder_secrets:
        with_placeholder_secrets(config, secret_keys)
    for name in unset:
        config.pop(f"{PROJECT}:{name}", None)
        secret_keys.discard(f"{PROJECT}:{name}")
    for name, value in (set or {}).items():
        config[f"{PROJECT}:{name}"] = value if isinstance(value, str) else json.dumps(value)
        secret_keys.discard(f"{PROJECT}:{name}")  # `set` without --secret is plain text
    for name, value in (secrets or {}).items():
        config[f"{PROJECT}:{name}"] = value
        secret_keys.add(f"{PROJECT}:{name}")
    return config, secret_keys


@pytest.fixture
def run_stack() -> RunStack:
    def run(stack: str, **edits: Any) -> Run:
        config, secret_keys = stack_config(stack, **edits)
        return run_program(stack, config, secret_keys)

    return run


@pytest.fixture
def run_component() -> Callable[[Callable[[], None], str], Run]:
    def run(program: Callable[[], None], stack: str = "dev") -> Run:
        return run_program(stack, {}, set(), program=program)

    return run


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, Run]:
    """Each committed stack evaluated once per session (for read-only assertions)."""
    runs = {}
    for stack in STACKS:
        config, secret_keys = stack_config(stack)
        runs[stack] = run_program(stack, config, secret_keys)
    return runs


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n`, the tests that need a Docker engine run on one worker,
    one after another, and so do those that start database servers: each kind
    shares one engine or one set of packages, and the timing-sensitive ones
    (requests during an update) must not compete with their own kind."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("docker"))
        elif "e2e" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("servers"))
