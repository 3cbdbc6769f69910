"""The backup scripts, config and units checked by the tools that consume them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from common.layout import HostLayout
from components.backup import (
    ASSETS,
    SCRIPTS,
    SWARM_SCRIPTS,
    BackupSettings,
    Schedules,
    render_config,
    render_units,
)
from components.backup_sources import BackupSource, SourceKind, app_control
from components.services import kinds
from components.services.model import Project, random_secret
from tests.conftest import STACKS
from tools.harness import ROOT, Run


@pytest.mark.parametrize("script", [*SCRIPTS, *SWARM_SCRIPTS])
def test_scripts_pass_shellcheck(script: str) -> None:
    result = subprocess.run(
        ["shellcheck", "-x", "--severity=style", f"assets/backup/{script}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_rendered_config_is_valid_bash_and_round_trips(tmp_path: Path) -> None:
    sources = (
        BackupSource(
            SourceKind.POSTGRES, "db", "app", ("docker", "compose", "exec", "-T", "postgres")
        ),
        BackupSource(SourceKind.FILES, "up", "/srv/data/up"),
    )
    app = app_control(_project(), "/srv/mailstack/compose", sources)
    settings = BackupSettings(
        repository="s3:https://s3.example.net/bucket/path",
        hostname="mailstack-prod",
        sources=sources,
        heartbeat_url="https://hc.example.net/ping/abc?x=1&y=2",
        app=app,
    )
    conf = tmp_path / "backup.conf"
    conf.write_text(render_config(settings))
    lint = subprocess.run(
        # Assigned-but-unused (SC2034) and literal $ in single quotes (SC2016) are the
        # point of a config file of quoted command strings.
        ["shellcheck", "--shell=bash", "--exclude=SC2034,SC2016", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    out = subprocess.run(
        [
            "bash",
            "-c",
            'set -eu; source "$1"; printf "%s\\n" "${BACKUP_SOURCES[@]}" "$BACKUP_APP_HEALTH" '
            '"$BACKUP_HEARTBEAT_URL" "$RESTIC_REPOSITORY"',
            "-",
            str(conf),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [
        "postgres db app docker compose exec -T postgres",
        "files up /srv/data/up",
        app.health,
        settings.heartbeat_url,
        settings.repository,
    ]


def _verify_units(tmp_path: Path, schedules: Schedules) -> subprocess.CompletedProcess[str]:
    # ExecStart must point at executables that exist: the real scripts, in a temp dir.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for script in SCRIPTS:
        shutil.copy2(ASSETS / script, bin_dir / script)
    units = render_units(schedules, str(bin_dir), str(tmp_path / "backup.conf"))
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in units)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _verify_units(tmp_path, Schedules())
    ours = [line for line in result.stderr.splitlines() if "mailstack-backup" in line]
    assert result.returncode == 0, result.stderr
    assert ours == [], ours


def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a bad calendar makes systemd-analyze complain."""
    result = _verify_units(tmp_path, Schedules(backup="*-*-* 25:99:00"))
    assert "mailstack-backup.timer" in result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_committed_schedules_are_valid_systemd_calendars(
    stack_runs: dict[str, Run], stack: str
) -> None:
    out = stack_runs[stack].outputs["backup"]
    if not out["enabled"]:
        return
    for schedule in (out["schedule"], out["checkSchedule"]):
        subprocess.run(["systemd-analyze", "calendar", schedule], capture_output=True, check=True)


def test_units_run_the_installed_commands_with_the_config() -> None:
    units = render_units(Schedules("*-*-* 02:00:00", "Mon *-*-* 04:00:00"))
    paths = HostLayout()
    assert (
        f"ExecStart={paths.bin_dir}/mailstack-backup --config {paths.config_file} run"
        in units["mailstack-backup.service"]
    )
    assert "OnCalendar=*-*-* 02:00:00" in units["mailstack-backup.timer"]
    assert "Persistent=true" in units["mailstack-backup.timer"]
    assert "OnCalendar=Mon *-*-* 04:00:00" in units["mailstack-backup-check.timer"]


def test_the_status_is_published_every_interval_and_after_every_run() -> None:
    units = render_units(Schedules(status_interval="7min"), status_dir="/srv/data/status")
    paths = HostLayout()
    assert (
        f"ExecStart={paths.bin_dir}/mailstack-backup-status --config {paths.config_file} "
        "--publish /srv/data/status\n" in units["mailstack-backup-status.service"]
    )
    assert "OnUnitActiveSec=7min\n" in units["mailstack-backup-status.timer"]
    for run in ("mailstack-backup.service", "mailstack-backup-check.service"):
        assert "OnSuccess=mailstack-backup-status.service\n" in units[run]
        assert "OnFailure=mailstack-backup-status.service\n" in units[run]


def _project() -> Project:
    db = kinds.postgres("db", database="app", user="app", password=random_secret("db"))
    return Project("mailstack-prod", (kinds.caddy((), {}), db))


def test_app_control_drives_the_project_through_its_compose_file() -> None:
    db = BackupSource(SourceKind.POSTGRES, "db", "app")
    app = app_control(_project(), "/srv/mailstack/compose", (db,))
    compose = "docker compose -p mailstack-prod -f /srv/mailstack/compose/compose.yaml"
    assert app.stop == f"{compose} stop proxy"
    assert app.start == f"{compose} up -d proxy"
