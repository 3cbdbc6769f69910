"""Which deploy steps snapshot first and undo a migration, as rendered per stack."""

from __future__ import annotations

import shlex

import pytest

from components.services.model import Project
from components.services.project import ProjectParams, build_project
from components.services.steps import (
    Releases,
    migrating_jobs,
    render_deploy_step,
    snapshots_first,
)
from mailstack.config import AppPreset
from tests.conftest import stack_config
from tests.services_cases import app_params
from tools.harness import run_program


def _listmonk() -> Project:
    params = app_params(preset=AppPreset.LISTMONK, image="", port=9000, health_path="/health")
    return build_project(ProjectParams("mailstack-x", params, "app.example.com")).project


def test_only_a_job_running_the_app_image_may_migrate() -> None:
    project = _listmonk()
    assert migrating_jobs(project) == {"app-install"}
    assert {s.name for s in project.services if snapshots_first(s, project)} == {
        "app",
        "app-install",
    }


def test_the_app_after_a_migrating_job_undoes_it_and_only_snapshotting_steps_get_backups() -> None:
    project = _listmonk()
    releases = Releases("../releases", "/usr/local/sbin")

    def script(name: str) -> str:
        return render_deploy_step(project.service(name), project, "/srv/c", "h", releases)

    assert "BACKUP_BIN=/usr/local/sbin " in script("app")
    assert "MIGRATION_CONSUMER=1 " in script("app")
    assert "release begin app-install migrates\n" in script("app-install")
    assert "BACKUP_BIN='' " in script("db") and "MIGRATION_CONSUMER=0 " in script("db")
    assert "release fail app " in script("app")


@pytest.mark.parametrize(
    ("stack", "backup_bin", "releases"),
    [("prod", "/usr/local/sbin", "../releases"), ("local", "", "../../local-releases")],
)
def test_stacks_with_backups_snapshot_before_an_app_update(
    stack: str, backup_bin: str, releases: str
) -> None:
    """The local stack keeps its history beside build/local, which every synth rewrites."""
    config, secret_keys = stack_config(stack)
    run = run_program(stack, config, secret_keys)
    app = run.named("services-app-deploy").inputs["create"]
    assert f"BACKUP_BIN={shlex.quote(backup_bin)} " in app
    assert f"RELEASES_DIR={shlex.quote(releases)} " in app
    script = run.artifacts["compose/mailstack-release"].text
    assert f"RELEASES_DIR=${{RELEASES_DIR:-{releases}}}\n" in script
