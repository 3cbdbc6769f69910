"""Backups cover what the services actually keep, for every app preset.

Read off the artifacts a server deploys: every writable mount in compose.yaml
(named volume or bind mount, resolved against the project dir the services'
files step writes into) must be saved by a files source or, for a database's
data volume, by a dump; every SQLite file a preset declares must be copied
consistently and left out of its volume's raw copy.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backup_sources import SQLITE_SIDECARS
from components.services import kinds
from components.services.presets import PRESETS
from tests.conftest import stack_config
from tests.services_cases import PRESET_SETTINGS, settings
from tools.harness import Run, run_program

SERVER_STACKS = ("dev", "prod")
PG_OR_MARIADB = ("postgres", "mariadb")


def _sources(conf: str) -> list[list[str]]:
    body = conf.split("BACKUP_SOURCES=(", 1)[1].split(")", 1)[0]
    return [shlex.split(line)[0].split() for line in body.strip().splitlines()]


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], Run]:
    out = {}
    for stack in SERVER_STACKS:
        for preset in PRESET_SETTINGS:
            config, secret_keys = stack_config(stack, set=settings(preset))
            out[(stack, preset)] = run_program(stack, config, secret_keys)
    return out


def test_every_preset_is_checked() -> None:
    assert set(PRESET_SETTINGS) == {p.value for p in PRESETS}


def _project_dir(run: Run) -> str:
    """Where the services' files step writes compose.yaml (not backup's own idea of it)."""
    match = re.search(r"^cd (.+)$", run.named("services-files").inputs["create"], re.M)
    assert match
    (directory,) = shlex.split(match.group(1))
    return directory


def _writable_mounts(run: Run) -> list[tuple[str, str, str]]:
    """(service, mount source, host path) of every writable mount in compose.yaml."""
    compose: dict[str, Any] = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    volumes = compose.get("volumes", {})
    mounts = []
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            source, _target, *mode = spec.split(":")
            # `ro`, or `ro` with a propagation mode (`ro,rslave`).
            if mode and "ro" in mode[0].split(","):
                continue
            if source.startswith((".", "/")):
                host = posixpath.normpath(posixpath.join(_project_dir(run), source))
            else:
                host = volumes[source]["driver_opts"]["device"]
            mounts.append((name, source, host))
    return mounts


@pytest.mark.parametrize("stack", SERVER_STACKS)
@pytest.mark.parametrize("preset", sorted(PRESET_SETTINGS))
def test_every_writable_mount_is_dumped_or_saved(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    run = runs[(stack, preset)]
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    sources = _sources(run.artifacts["backup/backup.conf"].text)
    dumped = {s[1] for s in sources if s[0] in ("postgres", "mariadb")}
    saved = {s[2] for s in sources if s[0] == "files"}

    mounts = _writable_mounts(run)
    assert mounts, preset
    for service, source, host in mounts:
        # By role: a one-shot job may run the database image for its client.
        role = compose["services"][service]["labels"]["org.mailstack.role"]
        if role == "database":
            assert service in dumped, f"{preset}: database {service} is not dumped"
        elif role == "monitoring":
            # Metrics history, silences, Grafana's state: rebuilt, not restored.
            assert host not in saved, f"{preset}: {service}'s {source} is saved"
        else:
            assert host in saved, f"{preset}: {service}'s {source} ({host}) is not saved"
    for words in sources:
        if words[0] in ("postgres", "mariadb"):
            # Dumped through the same compose project the services run in.
            assert words[3:8] == ["docker", "compose", "-p", compose["name"], "exec"]
    # Nothing saved twice (app and cron share MailWizz's directory).
    assert len(saved) == len([s for s in sources if s[0] == "files"])


def test_mailwizz_app_directory_is_saved_from_the_project_dir(
    runs: dict[tuple[str, str], Run],
) -> None:
    sources = _sources(runs[("prod", "mailwizz")].artifacts["backup/backup.conf"].text)
    assert ["files", "mailwizz", "/srv/mailstack/compose/mailwizz"] in sources


@pytest.mark.parametrize("stack", SERVER_STACKS)
def test_transactional_api_sqlite_is_vacuumed_and_left_out_of_the_raw_copy(
    runs: dict[tuple[str, str], Run], stack: str
) -> None:
    sources = _sources(runs[(stack, "transactional-api")].artifacts["backup/backup.conf"].text)
    db = "/srv/mailstack/volumes/app-data/app.db"
    assert ["sqlite", "app-data-app-db", db] in sources
    (files,) = [s for s in sources if s[:2] == ["files", "app-data"]]
    assert files[2] == "/srv/mailstack/volumes/app-data"
    assert files[3:] == [db + suffix for suffix in SQLITE_SIDECARS]


@pytest.mark.parametrize("preset", sorted(PRESET_SETTINGS))
def test_every_sqlite_source_is_excluded_from_the_files_that_hold_it(
    runs: dict[tuple[str, str], Run], preset: str
) -> None:
    sources = _sources(runs[("prod", preset)].artifacts["backup/backup.conf"].text)
    excluded = {path for s in sources if s[0] == "files" for path in s[3:]}
    for source in sources:
        if source[0] == "sqlite":
            assert {source[2] + suffix for suffix in SQLITE_SIDECARS} <= excluded


# --- stopping and starting around a restore ---------------------------------------

FAKE_DOCKER = r"""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if "ps" in args:
    print(f"id-{args[-1]}")
elif args[0] == "inspect":
    print("starting" if args[-1] == "id-" + os.environ["FAKE_UNHEALTHY"] else "healthy")
"""


def _app_commands(run: Run) -> dict[str, str]:
    conf = run.artifacts["backup/backup.conf"].text
    out = subprocess.run(
        [
            "bash",
            "-c",
            'source /dev/stdin; printf "%s\\0" "$BACKUP_APP_STOP" "$BACKUP_APP_START" '
            '"$BACKUP_APP_HEALTH" "$BACKUP_APP_DRILL"',
        ],
        input=conf,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stop, start, health, drill, _ = out.split("\0")
    return {"stop": stop, "start": start, "health": health, "drill": drill}


def _run_with_fake_docker(
    tmp_path: Path, cmd: str, unhealthy: str = ""
) -> tuple[int, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(0o755)
    log = tmp_path / "docker.log"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_UNHEALTHY": unhealthy,
    }
    result = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, calls


@pytest.mark.parametrize("preset", sorted(PRESET_SETTINGS))
def test_restore_stops_all_but_loaded_databases_and_the_exporter_then_waits_for_health(
    runs: dict[tuple[str, str], Run], preset: str, tmp_path: Path
) -> None:
    run = runs[("prod", preset)]
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    services = compose["services"]
    databases = {n for n, s in services.items() if s["image"].split(":")[0] in PG_OR_MARIADB}
    long_running = {n for n, s in services.items() if s["restart"] != "no"}
    # It writes nothing, and keeps watching the host through the restore.
    assert "node-exporter" in long_running
    monitoring = {
        n
        for n, s in services.items()
        if s["labels"]["org.mailstack.role"] in ("metrics", "monitoring")
    }
    assert {"prometheus", "alertmanager", "cadvisor"} <= monitoring
    kept = databases | monitoring
    with_health = {n for n, s in services.items() if "healthcheck" in s}
    project = ["compose", "-p", compose["name"], "-f", f"{_project_dir(run)}/compose.yaml"]
    commands = _app_commands(run)

    jobs = [n for n, s in services.items() if s["restart"] == "no"]
    status, calls = _run_with_fake_docker(tmp_path, commands["stop"])
    assert status == 0
    (call,) = calls
    assert call[: len(project) + 1] == [*project, "stop"]
    assert sorted(call[len(project) + 1 :]) == sorted(long_running - kept)
    # `up`, naming the one-shot jobs: they run again (schema, listmonk's relay
    # settings in its database) before the app starts on the restored data.
    status, calls = _run_with_fake_docker(tmp_path, commands["start"])
    assert status == 0
    (call,) = calls
    assert call[: len(project) + 2] == [*project, "up", "-d"]
    assert sorted(call[len(project) + 2 :]) == sorted({*jobs, *(long_running - kept)})

    status, calls = _run_with_fake_docker(tmp_path, commands["health"])
    assert status == 0
    asked = {c[-1] for c in calls if c[: len(project)] == project and "ps" in c}
    assert asked == with_health
    inspected = {c[-1] for c in calls if c[0] == "inspect"}
    assert inspected == {f"id-{s}" for s in with_health}
    # One unhealthy container is enough to keep waiting.
    for service in sorted(with_health):
        assert _run_with_fake_docker(tmp_path, commands["health"], service)[0] != 0, service

    for text in commands.values():
        lint = subprocess.run(
            ["shellcheck", "-s", "bash", "-"], input=text, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("preset", sorted(PRESET_SETTINGS))
def test_a_drill_restore_pauses_listmonk_campaigns_in_its_own_database(
    runs: dict[tuple[str, str], Run], preset: str, tmp_path: Path
) -> None:
    """Restored from prod, a running campaign would go on sending to prod's subscribers."""
    run = runs[("prod", preset)]
    drill = _app_commands(run)["drill"]
    if preset != "listmonk":
        assert drill == ""
        return
    status, calls = _run_with_fake_docker(tmp_path, drill)
    assert status == 0
    (call,) = calls
    project = ["compose", "-p", "mailstack-prod", "-f", f"{_project_dir(run)}/compose.yaml"]
    assert call[: len(project)] == project
    assert call[len(project) :] == [
        "exec",
        "-T",
        "-e",
        "PGUSER=listmonk",
        "db",
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--dbname=listmonk",
        "-c",
        "UPDATE campaigns SET status = 'paused' WHERE status = 'running'; "
        "UPDATE campaigns SET status = 'draft' WHERE status = 'scheduled'",
    ]


def test_only_a_database_runs_drill_sql() -> None:
    with pytest.raises(ValueError, match="only a database runs SQL"):
        replace(kinds.redis(), drill_sql=("SELECT 1",))
