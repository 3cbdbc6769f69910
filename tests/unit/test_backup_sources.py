"""Backups cover what the services actually keep, for every app preset."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import yaml

from tests.conftest import RunStack

PRESETS: dict[str, dict[str, Any]] = {
    "listmonk": {},
    "mailwizz": {},
    "web-api": {
        "appImage": "ghcr.io/acme/api:1.0.0",
        "appWebImage": "ghcr.io/acme/web:1.0.0",
        "minio": True,
    },
    "custom": {"appImage": "ghcr.io/acme/app:1.0.0"},
}


def _sources(conf: str) -> list[list[str]]:
    body = conf.split("BACKUP_SOURCES=(", 1)[1].split(")", 1)[0]
    return [shlex.split(line)[0].split() for line in body.strip().splitlines()]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_database_is_dumped_and_every_other_volume_saved(
    run_stack: RunStack, preset: str
) -> None:
    run = run_stack("prod", set={"app": preset, **PRESETS[preset]})
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    sources = _sources(run.artifacts["backup/backup.conf"].text)
    dumped = {(s[0], s[1]) for s in sources if s[0] in ("postgres", "mariadb")}
    saved = {s[1] for s in sources if s[0] == "files"}
    project = compose["name"]

    db_volumes = set()
    for name, svc in compose["services"].items():
        image = svc["image"].split(":")[0]
        # By role: a one-shot job may run the database image for its client.
        if svc["labels"]["org.mailstack.role"] == "database":
            assert (image, name) in dumped, f"{preset}: database {name} is not backed up"
            db_volumes |= {v.split(":")[0] for v in svc.get("volumes", [])}
    for source in sources:
        if source[0] in ("postgres", "mariadb"):
            # Dumped through the same compose project the services run in.
            assert source[3:8] == ["docker", "compose", "-p", project, "exec"]
    assert saved == set(compose.get("volumes", {})) - db_volumes
