"""Every app preset on every committed stack: the cases services tests run over."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.services.presets import AppParams, Relay
from mailstack.config import AppPreset
from tests.conftest import STACKS, stack_config
from tools.harness import Run, run_program

PRESET_SETTINGS: dict[str, dict[str, Any]] = {
    "listmonk": {},
    "mailwizz": {},
    "transactional-api": {
        "appImage": "ghcr.io/example/mailer:1.4.2",
        "appPort": 8000,
        "appHealthPath": "/healthz",
        "redis": True,
        # Receives bounces: the proxy serves the MTA-STS policy.
        "receivesMail": True,
        "mtaSts": True,
    },
    "web-api": {
        "appImage": "ghcr.io/example/api:2.0.1",
        "appWebImage": "ghcr.io/example/web:2.0.1",
        "appPort": 8000,
        # An image without wget; `$` reaches the shell in the container.
        "appHealthCommand": ["sh", "-c", "curl -fsS http://127.0.0.1:$PORT/healthz"],
    },
    "custom": {
        "appImage": "ghcr.io/example/app:0.9.0",
        "redis": True,
        "storage": True,
        "storageSubdomain": "files",
        "wwwRedirect": True,
    },
}


def app_params(**changes: Any) -> AppParams:
    """A custom app on port 8000 sending to the local sink, with `changes` applied."""
    values: dict[str, Any] = {
        "preset": AppPreset.CUSTOM,
        "image": "example/app:1.0",
        "port": 8000,
        "health_path": "/",
        "admin_paths": (),
        "app_url": "https://app.example.com",
        "from_address": "noreply@example.com",
        "relay": Relay("mailpit", 1025),
        "redis": False,
        "storage": False,
        "buckets": (),
        "egress": False,
    }
    values.update(changes)
    return AppParams(**values)


CASES = [(stack, preset) for stack in STACKS for preset in PRESET_SETTINGS]
CASE_IDS = [f"{stack}-{preset}" for stack, preset in CASES]


def settings(preset: str) -> dict[str, Any]:
    return {"app": preset, **PRESET_SETTINGS[preset]}


def compose_of(run: Run) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    return doc


@pytest.fixture(scope="session")
def runs() -> dict[tuple[str, str], Run]:
    """Every case evaluated once per session (read-only for the tests)."""
    out = {}
    for stack, preset in CASES:
        config, secret_keys = stack_config(stack, set=settings(preset))
        out[(stack, preset)] = run_program(stack, config, secret_keys)
    return out
