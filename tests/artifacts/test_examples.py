"""Every example stack (examples/*.yaml) synthesises, and its artifacts pass the real tools."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.artifacts.test_services_artifacts import check, write
from tests.caddy import CADDY
from tools.harness import ROOT, Run, read_stack_config, run_program
from tools.synth import main as synth_main
from tools.synth import with_placeholder_secrets

SWARM_EXAMPLES = {"three-nodes"}
"""Checked by tests/artifacts/test_swarm_artifacts.py: a Swarm stack file, no compose."""
EXAMPLES = sorted(
    p.stem for p in (ROOT / "examples").glob("*.yaml") if p.stem not in SWARM_EXAMPLES
)


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    out = {}
    for name in EXAMPLES:
        config, secret_keys = read_stack_config(name, stack_file=ROOT / "examples" / f"{name}.yaml")
        with_placeholder_secrets(config, secret_keys)
        out[name] = run_program(name, config, secret_keys)
    return out


def _compose(run: Run) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    return doc


def _backup_sources(run: Run) -> list[list[str]]:
    body = run.artifacts["backup/backup.conf"].text.split("BACKUP_SOURCES=(", 1)[1]
    return [shlex.split(line)[0].split() for line in body.split(")", 1)[0].strip().splitlines()]


def test_there_is_one_example_per_seed_system() -> None:
    assert EXAMPLES == ["mailwizz", "node-sqlite-platform", "selfmx", "zigznote"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_compose_caddy_and_every_step_pass_their_validators(
    runs: dict[str, Run], name: str, tmp_path: Path
) -> None:
    run = runs[name]
    compose_dir = write(run, tmp_path)
    check("docker", "compose", "-f", str(compose_dir / "compose.yaml"), "config", "-q")
    venv_bin = ROOT / ".venv" / "bin"
    check(
        str(venv_bin / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(compose_dir / "compose.yaml"),
    )
    check(
        str(CADDY), "validate", "--config", str(compose_dir / "Caddyfile"), "--adapter", "caddyfile"
    )
    scripts = []
    for reg in run.registrations:
        if reg.type.startswith("command:") and reg.name.startswith(("services-", "host-prep-")):
            for phase in ("create", "update", "delete"):
                if isinstance(reg.inputs.get(phase), str):
                    path = tmp_path / f"{reg.name}-{phase}.sh"
                    path.write_text(reg.inputs[phase])
                    scripts.append(str(path))
    assert len(scripts) > 4
    check("shellcheck", "--shell=sh", *scripts)


@pytest.mark.parametrize("name", EXAMPLES)
def test_images_are_pinned_and_none_is_minio(runs: dict[str, Run], name: str) -> None:
    built = {r.inputs["tags"][0] for r in runs[name].of_type("docker-build:index:Image")}
    for service, spec in _compose(runs[name])["services"].items():
        image = spec["image"]
        assert not image.startswith(("minio/minio", "minio/mc")), service
        assert "@sha256:" in image or image in built, f"{service}: {image} is not pinned"


def test_mailwizz_builds_its_php_image_and_fetches_its_source(runs: dict[str, Run]) -> None:
    run = runs["mailwizz"]
    (build,) = run.of_type("docker-build:index:Image")
    assert _compose(run)["services"]["app"]["image"] == build.inputs["tags"][0]
    assert run.named("host-prep-archive-0")


def test_the_node_platform_gets_its_environment_and_its_database_backed_up(
    runs: dict[str, Run],
) -> None:
    run = runs["node-sqlite-platform"]
    app = _compose(run)["services"]["app"]
    assert app["environment"]["ALERT_BOUNCE_RATE_PERCENT"] == "5"
    assert "ENCRYPTION_KEY" in app["x-secret-env"]
    assert app["volumes"] == ["app-data-app-data:/app/data"]
    sqlite = [s[2] for s in _backup_sources(run) if s[0] == "sqlite"]
    assert sqlite == ["/srv/mailstack/volumes/app-data-app-data/platform.db"]


def test_selfmx_keeps_two_databases_its_keys_secret_and_ses_as_code(runs: dict[str, Run]) -> None:
    run = runs["selfmx"]
    app = _compose(run)["services"]["app"]
    assert {"AWS_SECRET_ACCESS_KEY", "API_KEY_HASH", "CLOUDFLARE_API_TOKEN"} <= set(
        app["x-secret-env"]
    )
    assert "AWS_SECRET_ACCESS_KEY" not in app["environment"]
    sqlite = sorted(s[2] for s in _backup_sources(run) if s[0] == "sqlite")
    assert sqlite == [
        "/srv/mailstack/volumes/app-data/jobs/hangfire.db",
        "/srv/mailstack/volumes/app-data/selfmx.db",
    ]
    assert run.of_type("aws:sesv2/emailIdentity:EmailIdentity")


def test_zigznote_gets_working_urls_for_its_services(runs: dict[str, Run]) -> None:
    run = runs["zigznote"]
    api = _compose(run)["services"]["api"]
    assert {"DATABASE_URL", "REDIS_URL", "S3_SECRET_ACCESS_KEY", "SESSION_SECRET"} <= set(
        api["x-secret-env"]
    )
    assert api["environment"]["S3_PUBLIC_ENDPOINT"] == "https://files.notes.example.com"
    env = run.artifacts["compose/env/api.env"].text
    assert "DATABASE_URL='postgresql://app:<secret:random:services-db-password>@db:5432/app'" in env
    assert "files.notes.example.com {" in run.artifacts["compose/Caddyfile"].text


def test_synth_takes_a_stack_file(tmp_path: Path) -> None:
    assert (
        synth_main(
            ["--stack-file", str(ROOT / "examples" / "zigznote.yaml"), "--out", str(tmp_path)]
        )
        == 0
    )
    assert (tmp_path / "zigznote" / "compose" / "compose.yaml").is_file()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_synthesises_byte_identically_in_two_processes(
    name: str, tmp_path: Path
) -> None:
    """A second run with nothing changed has no diff: no timestamps, no order that
    depends on the interpreter's hash seed (storage identities, digests, SES)."""
    trees = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        example = f"examples/{name}.yaml"
        subprocess.run(
            [sys.executable, "-m", "tools.synth", "--stack-file", example, "--out", str(out)],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
        )
        trees.append(_tree(out / name))
    assert trees[0] == trees[1]
    assert "resources.json" in trees[0]
