"""No configured secret value reaches a resource input, output or file unless it is a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mailstack.config import key_specs
from mailstack.config.secret_env import SECRET_ENV_KEY
from tests.conftest import STACKS, stack_config
from tools.harness import ROOT, SECRET_SIG, Run, read_stack_config, run_program
from tools.synth import with_placeholder_secrets

SECRET_KEYS = [s.alias for s in key_specs() if s.secret]


def _distinct_secrets() -> dict[str, str]:
    """A value per secret key, valid for its type (a URL for the heartbeat, an
    object of variables for `appSecretEnv`)."""
    urls = {s.alias for s in key_specs() if s.secret and s.example.startswith("https://")}
    values = {
        alias: ("https://hc.example.net/" if alias in urls else "") + f"S3CRET-{alias}-value-9f2c"
        for alias in SECRET_KEYS
    }
    values[SECRET_ENV_KEY] = json.dumps({"APP_TOKEN": values[SECRET_ENV_KEY]})
    return values


def _leaves(secrets: dict[str, str]) -> set[str]:
    """The secret values themselves (the members of an object key)."""
    leaves = set(secrets.values()) - {secrets[SECRET_ENV_KEY]}
    return leaves | set(json.loads(secrets[SECRET_ENV_KEY]).values())


def test_every_secret_key_is_exercised() -> None:
    assert "backupHeartbeatUrl" in _distinct_secrets()


def _plain_strings(value: Any) -> list[str]:
    """Every string in wire-format inputs that is NOT inside a secret wrapper."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return []
        return [s for v in value.values() for s in _plain_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _plain_strings(v)]
    return [value] if isinstance(value, str) else []


def _assert_secrets_stay_secret(run: Run, values: set[str]) -> None:
    for reg in run.registrations:
        leaked = [s for s in _plain_strings(reg.inputs) if any(v in s for v in values)]
        assert leaked == [], f"{reg.type} {reg.name} carries a secret in plain text"
    for name, value in run.outputs.items():
        if any(v in str(value) for v in values):
            assert name in run.secret_outputs, f"output {name} leaks a secret"
    for path, artifact in run.artifacts.items():
        if any(v in artifact.text for v in values):
            assert artifact.secret, f"artifact {path} holds a secret but is not marked secret"
            assert artifact.mode & 0o077 == 0, f"artifact {path} holds a secret but is readable"


@pytest.mark.parametrize("stack", STACKS)
def test_secret_values_only_travel_as_secrets(stack: str) -> None:
    secrets = _distinct_secrets()
    config, secret_keys = stack_config(stack, secrets=secrets)
    run = run_program(stack, config, secret_keys)
    _assert_secrets_stay_secret(run, _leaves(secrets))


EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
"""Every example, the three-node Swarm included."""


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_examples_secret_values_only_travel_as_secrets(example: str) -> None:
    """Each example with a distinct value in every secret it sets: the registry
    token, MailWizz's download link, the app's secret variables, SES's DKIM key."""
    stack_file = ROOT / "examples" / f"{example}.yaml"
    environment = yaml.safe_load(stack_file.read_text())["config"].get("mailstack:environment")
    # A prod example is deployed as the stack named prod (only it may be prod).
    stack = "prod" if environment == "prod" else example
    config, secret_keys = read_stack_config(stack, stack_file=stack_file)
    with_placeholder_secrets(config, secret_keys)  # adds the required ones it omits
    values = set()
    for full in sorted(secret_keys):
        alias = full.partition(":")[2]
        if alias == SECRET_ENV_KEY:
            names = sorted(yaml.safe_load(stack_file.read_text())["config"].get(full, {}))
            members = {n: f"S3CRET-{n}-member-4e1a" for n in names}
            config[full] = json.dumps(members)
            values |= set(members.values())
        else:
            value = f"S3CRET-{alias}-value-4e1a"
            if alias in {s.alias for s in key_specs() if s.example.startswith("https://")}:
                value = f"https://dl.example.net/{value}"
            config[full] = value
            values.add(value)
    assert values, f"{example} sets no secret: nothing would be checked"
    _assert_secrets_stay_secret(run_program(stack, config, secret_keys), values)
