"""Images built from the repo, the host's registry login, MailWizz's source archive."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.app_image import context_tag
from components.host_prep import SourceArchive, fetch_archive_command
from mailstack.config import ConfigError, validate
from tests.conftest import stack_config
from tools.harness import SECRET_SIG, Run, mask_secrets, run_program

ROOT = Path(__file__).resolve().parents[2]
SHA = "ab" * 32
TOKEN = "ghp-S3CRET-token-7d1e"
URL = "https://files.example.com/mailwizz.zip?token=S3CRET-link-42"

MAILWIZZ = {
    "app": "mailwizz",
    "appImageBuild": "assets/images/mailwizz-php",
    "imageRepository": "ghcr.io/acme/mailstack",
    "imageRegistryUsername": "acme-bot",
    "mailwizzArchiveSha256": SHA,
}


def _run(stack: str = "dev") -> Run:
    config, secret_keys = stack_config(
        stack,
        set=MAILWIZZ,
        secrets={"imageRegistryPassword": TOKEN, "mailwizzArchiveUrl": URL},
    )
    return run_program(stack, config, secret_keys)


def test_mailwizz_runs_the_php_image_built_from_the_repo() -> None:
    run = _run()
    (build,) = run.of_type("docker-build:index:Image")
    tag = context_tag(ROOT / "assets/images/mailwizz-php")
    ref = f"ghcr.io/acme/mailstack/mailwizz-php:{tag}"
    assert build.inputs["tags"] == [ref] and build.inputs["push"] is True
    assert build.inputs["platforms"] == ["linux/amd64"]
    (registry,) = build.inputs["registries"]
    assert registry["address"] == "ghcr.io" and SECRET_SIG in registry["password"]
    services = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)["services"]
    assert services["app"]["image"] == ref and services["cron"]["image"] == ref
    # Every other image is still pinned by its resolved digest.
    assert all("@sha256:" in s["image"] for n, s in services.items() if n not in ("app", "cron"))


def test_the_services_wait_for_the_push_the_login_and_the_source() -> None:
    run = _run()
    (build,) = run.of_type("docker-build:index:Image")
    prep = [r for r in run.registrations if r.name.startswith("host-prep-")]
    assert {r.name for r in prep} == {"host-prep-registry-login", "host-prep-archive-0"}
    app_deploy = run.named("services-app-deploy")
    for needed in (build, *prep):
        assert needed.urn in app_deploy.dependencies, needed.name
    login = run.named("host-prep-registry-login")
    assert "--password-stdin" in login.inputs["create"]
    assert SECRET_SIG in login.inputs["stdin"]
    archive = run.named("host-prep-archive-0")
    assert SECRET_SIG in archive.inputs["stdin"]
    assert "S3CRET" not in json.dumps([mask_secrets(r.inputs) for r in run.registrations])


def test_a_changed_dockerfile_is_a_new_tag(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    before = context_tag(tmp_path)
    assert context_tag(tmp_path) == before
    (tmp_path / "Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    assert context_tag(tmp_path) != before


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
def test_the_archive_step_passes_shellcheck() -> None:
    script = fetch_archive_command(SourceArchive(URL, SHA, "/srv/mailstack/compose/mailwizz"))
    done = subprocess.run(
        ["shellcheck", "-s", "sh", "-"], input=script, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_the_archive_step_refuses_a_wrong_checksum_and_unpacks_a_right_one(tmp_path: Path) -> None:
    import hashlib
    import zipfile

    archive = tmp_path / "mw.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("latest/index.php", "<?php echo 1;")
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    target = tmp_path / "mailwizz"

    def run_step(sha: str) -> subprocess.CompletedProcess[str]:
        script = fetch_archive_command(SourceArchive("x", sha, str(target), owner="$(id -u)"))
        # curl stands in for the download: the step's own checks run for real.
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "curl").write_text(
            '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n'
            f'cp {archive} "$out"\n'
        )
        (fake / "curl").chmod(0o755)
        env = {"PATH": f"{fake}:/usr/bin:/bin"}
        return subprocess.run(
            ["sh", "-c", script], input="https://x\n", capture_output=True, text=True, env=env
        )

    assert run_step("cd" * 32).returncode != 0
    assert not (target / "index.php").exists()
    done = run_step(good)
    assert done.returncode == 0, done.stderr
    assert (target / "index.php").read_text() == "<?php echo 1;"


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"appImageBuild": "assets/images/nope"}, "appImageBuild"),
        ({"appImageBuild": "../etc"}, "appImageBuild"),
        ({"appImageBuild": "assets/images/mailwizz-php"}, "imageRepository"),
        ({"app": "listmonk", "mailwizzArchiveSha256": SHA}, "mailwizzArchiveSha256"),
        ({"app": "mailwizz", "mailwizzArchiveSha256": SHA}, "mailwizzArchiveUrl"),
        ({"imageRegistry": "ghcr.io"}, "imageRegistryUsername"),
        ({"imageRepository": "ghcr.io/acme/mailstack"}, "imageRegistryUsername"),
        ({"imageRegistry": "ghcr.io\nevil"}, "imageRegistry"),
        ({"imageRegistryUsername": "bot; rm -rf /"}, "imageRegistryUsername"),
        ({"imageRepository": "ghcr.io/Acme"}, "imageRepository"),
    ],
)
def test_bad_image_settings_name_the_key(settings: dict[str, Any], key: str) -> None:
    config, secret_keys = stack_config(
        "dev", set={"app": "mailwizz", **settings}, unset=["mailwizzArchiveUrl"]
    )
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    assert key in {p.key for p in caught.value.problems}
