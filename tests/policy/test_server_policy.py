"""Invariants over every resource of every stack: secrets, SSH exposure, boot order, data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from components.firewall import WORLD
from mailstack.config import key_specs
from mailstack.config.secret_env import SECRET_ENV_KEY
from tests.conftest import STACKS, RunStack, stack_config
from tools.harness import Registration, Run, mask_secrets, run_program

SECRET_KEYS = sorted(spec.alias for spec in key_specs() if spec.secret)
WAIT_STEP = "server-cloud-init"


def _plain_inputs(reg: Registration) -> str:
    return json.dumps(mask_secrets(reg.inputs))


# Long enough, and from an alphabet unlike generated names, never to occur by chance.
_secret_value = st.text(alphabet="QXZqxz0123456789~^", min_size=16, max_size=40)


# Values valid for their key's type: the heartbeat's is an https URL.
_URL_KEYS = {s.alias for s in key_specs() if s.secret and s.example.startswith("https://")}


def _typed(key: str, value: str) -> str:
    return f"https://hc.example.net/{value}" if key in _URL_KEYS else value


_secret_values = st.lists(
    _secret_value, min_size=len(SECRET_KEYS), max_size=len(SECRET_KEYS), unique=True
).map(lambda values: {k: _typed(k, v) for k, v in zip(SECRET_KEYS, values, strict=True)})


# Each example evaluates the whole program: no shrinking, a failure names the key anyway.
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(values=_secret_values)
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_reaches_an_input_unwrapped(stack: str, values: dict[str, str]) -> None:
    # `appSecretEnv` is an object of variables: the value is one variable's.
    wire = {**values, SECRET_ENV_KEY: json.dumps({"APP_SECRET": values[SECRET_ENV_KEY]})}
    config, secret_keys = stack_config(stack, set={"tailscale": True}, secrets=wire)
    run = run_program(stack, config, secret_keys)
    for reg in run.registrations:
        plain = _plain_inputs(reg)
        for key, value in values.items():
            assert value not in plain, f"{key} in plain inputs of {reg.name}"
    for path, artifact in run.artifacts.items():
        if not artifact.secret:
            assert not any(v in artifact.text for v in values.values()), path


def _hetzner(stack_runs: dict[str, Run]) -> list[Run]:
    return [run for stack, run in stack_runs.items() if stack != "local" and stack in STACKS]


def test_prod_never_opens_ssh_to_the_internet(stack_runs: dict[str, Run]) -> None:
    for reg in stack_runs["prod"].registrations:
        for rule in reg.inputs.get("rules", []) if reg.type.startswith("hcloud:") else []:
            if rule.get("port") == "22":
                assert not set(rule["sourceIps"]) & set(WORLD), reg.name


def _depends_on(run: Run, reg: Registration, target: str) -> bool:
    by_urn = run.by_urn()
    seen: set[str] = set()
    todo = list(reg.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        if by_urn[urn].name == target:
            return True
        todo.extend(by_urn[urn].dependencies)
    return False


def test_every_remote_step_waits_for_the_first_boot(
    stack_runs: dict[str, Run], run_stack: RunStack
) -> None:
    runs = [*_hetzner(stack_runs), run_stack("dev", set={"tailscale": True})]
    remote = [
        (run, reg)
        for run in runs
        for reg in run.of_type("command:remote:Command")
        if reg.name != WAIT_STEP
    ]
    assert remote
    for run, reg in remote:
        assert _depends_on(run, reg, WAIT_STEP), f"{run.stack}: {reg.name}"


def test_prod_data_and_addresses_survive_destroy(stack_runs: dict[str, Run]) -> None:
    run = stack_runs["prod"]
    kept: dict[str, Any] = {
        "hcloud:index/volume:Volume": lambda r: r.protect and r.retain_on_delete,
        "hcloud:index/primaryIp:PrimaryIp": lambda r: r.protect and r.inputs["autoDelete"] is False,
        "hcloud:index/server:Server": lambda r: r.protect and r.inputs["deleteProtection"],
    }
    for type_, ok in kept.items():
        regs = run.of_type(type_)
        assert regs and all(ok(r) for r in regs), type_
