"""The Backup component and its config under mocks: secrets, ordering, outputs, rules."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pytest
from pulumi.runtime.mocks import MockResourceArgs

from common.layout import HostLayout
from components.backup import Backup, BackupArgs, BackupSettings, Schedules
from components.backup_sources import BackupSource, SourceKind
from components.host import Host
from components.services.model import Mount
from mailstack.config import ConfigError, validate
from tests.conftest import RunStack, stack_config
from tests.e2e.backup_support import BackupHost
from tools.harness import (
    SECRET_SIG,
    MailstackMocks,
    RecordingMonitor,
    Run,
    mask_secrets,
    run_program,
)

PASSWORD = "pw-VALUE-4711"
S3_SECRET = "s3-SECRET-0815"
SECRETS = {"backupPassword": PASSWORD, "backupS3SecretAccessKey": S3_SECRET}
COMMAND = "command:remote:Command"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


@pytest.fixture(scope="module")
def prod(request: pytest.FixtureRequest) -> Run:
    from tools.harness import run_program

    config, secret_keys = stack_config("prod", secrets=SECRETS)
    return run_program("prod", config, secret_keys)


def test_no_secret_value_appears_outside_a_secret_wrapper(prod: Run) -> None:
    for reg in prod.registrations:
        text = json.dumps(mask_secrets(reg.inputs))
        assert PASSWORD not in text, reg.name
        assert S3_SECRET not in text, reg.name


def test_secrets_reach_root_only_files_through_stdin_never_the_command_line(prod: Run) -> None:
    for name, path in (
        ("backup-password", "/etc/mailstack/backup/restic-password"),
        ("backup-credentials", "/etc/mailstack/backup/credentials.env"),
    ):
        reg = prod.named(name)
        assert _is_secret(reg.inputs["stdin"])
        assert "stdin" in reg.additional_secret_outputs
        create = reg.inputs["create"]
        assert "umask 077" in create
        assert "install -d -m 0700 /etc/mailstack/backup " in create
        assert f"-m 0600 /dev/stdin {path}" in create
    credentials = prod.named("backup-credentials").inputs["stdin"]["value"]
    assert f"AWS_SECRET_ACCESS_KEY={S3_SECRET}" in credentials


def test_the_heartbeat_url_travels_only_as_a_secret_into_a_root_only_file(
    run_stack: RunStack,
) -> None:
    url = "https://hc-ping.com/0f4c1e2a-check-uuid"
    run = run_stack("prod", secrets={"backupHeartbeatUrl": url})
    conf = run.artifacts["backup/backup.conf"]
    assert f"BACKUP_HEARTBEAT_URL={url}" in conf.text
    assert conf.secret and conf.mode == 0o600
    reg = run.named("backup-config")
    assert _is_secret(reg.inputs["stdin"])
    assert "stdin" in reg.additional_secret_outputs
    create = reg.inputs["create"]
    assert "umask 077" in create
    assert create.endswith("-m 0600 /dev/stdin /etc/mailstack/backup.conf'")
    # Nowhere else in the clear: not in any other step, unit, script or output.
    assert all(url not in json.dumps(mask_secrets(r.inputs)) for r in run.registrations)
    assert url not in json.dumps(run.outputs, default=str)


def test_the_heartbeat_url_is_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="mailstack:backupHeartbeatUrl: is a secret"):
        _config("prod", backupHeartbeatUrl="https://hc-ping.com/x")


def test_without_a_heartbeat_the_config_file_diff_stays_reviewable(run_stack: RunStack) -> None:
    run = run_stack("prod", unset=["backupHeartbeatUrl"])
    reg = run.named("backup-config")
    assert "BACKUP_HEARTBEAT_URL=''" in reg.inputs["stdin"]


def test_every_step_is_a_child_of_the_component(prod: Run) -> None:
    (component,) = prod.of_type("mailstack:backup:Backup")
    steps = [s for s in prod.of_type(COMMAND) if "mailstack:backup:Backup$" in s.urn]
    assert len(steps) >= 10
    assert {s.parent for s in steps} == {component.urn}
    assert all(s.name.startswith("backup-") for s in steps)


def test_timers_are_enabled_only_after_the_repository_is_initialised(prod: Run) -> None:
    by_urn = prod.by_urn()
    timers = prod.named("backup-timers")
    deps = {by_urn[u].name for u in timers.dependencies}
    assert "backup-init" in deps
    assert {d for d in deps if d.startswith("backup-unit-")} == {
        "backup-unit-backup-service",
        "backup-unit-backup-timer",
        "backup-unit-backup-check-service",
        "backup-unit-backup-check-timer",
        "backup-unit-backup-status-service",
        "backup-unit-backup-status-timer",
    }
    create = timers.inputs["create"]
    assert "enable --now mailstack-backup.timer mailstack-backup-check.timer " in create
    assert "mailstack-backup-status.timer" in create
    assert create.endswith("systemctl start --no-block mailstack-backup-status.service")
    init_deps = {by_urn[u].name for u in prod.named("backup-init").dependencies}
    assert {"backup-password", "backup-credentials", "backup-config", "backup-packages"} <= (
        init_deps
    )


def test_outputs_tell_how_to_read_the_status_and_the_stale_threshold(prod: Run) -> None:
    out = prod.outputs["backup"]
    assert out["enabled"] is True
    assert out["maxAgeHours"] == 26
    assert out["statusCommand"].endswith("sudo /usr/local/sbin/mailstack-backup-status")
    assert out["restoreCommand"].startswith("ssh -t ")
    assert out["retention"] == {"daily": 7, "weekly": 4, "monthly": 12}
    assert "backup" not in prod.secret_outputs


def test_local_stack_exports_backups_off_and_creates_nothing(run_stack: RunStack) -> None:
    run = run_stack("local")
    assert run.outputs["backup"] == {"enabled": False}
    assert run.of_type("mailstack:backup:Backup") == []


def test_published_config_lists_sources_and_retention(prod: Run) -> None:
    conf = prod.artifacts["backup/backup.conf"].text
    assert "BACKUP_KEEP_DAILY=7" in conf
    assert "BACKUP_HOSTNAME=mailstack-prod" in conf
    assert (
        "'postgres db listmonk docker compose -p mailstack-prod exec -T -e PGUSER=listmonk db'"
        in conf
    )
    assert PASSWORD not in conf
    assert S3_SECRET not in conf
    assert prod.artifacts["backup/bin/mailstack-restore"].mode == 0o755


def test_every_remote_step_waits_for_the_host(run_component: Any) -> None:
    def program() -> None:
        ready = command.local.Command("cloud-init-wait", create="true")
        host = Host(
            "server",
            command.remote.ConnectionArgs(host="192.0.2.1", user="admin"),
            HostLayout(data_dir="/srv/data"),
            ready=(ready,),
        )
        Backup(
            "bk",
            BackupArgs(
                host=host,
                settings=BackupSettings(
                    repository="/srv/repo",
                    hostname="h",
                    sources=(BackupSource(SourceKind.FILES, "f", "/srv/data/f"),),
                    uses_credentials=False,
                ),
                schedules=Schedules(),
                password=pulumi.Output.secret("pw"),
            ),
        )

    run = run_component(program)
    wait = run.named("cloud-init-wait")
    steps = run.of_type(COMMAND)
    assert len(steps) > 5
    for step in steps:
        assert wait.urn in step.dependencies, step.name
    assert "bk-credentials" not in {s.name for s in steps}


def test_the_local_engine_is_refused(run_component: Any) -> None:
    def program() -> None:
        Backup(
            "bk",
            BackupArgs(
                host=Host("local", None, HostLayout(data_dir="/data")),
                settings=BackupSettings("/r", "h", (), uses_credentials=False),
                schedules=Schedules(),
                password=pulumi.Output.secret("pw"),
            ),
        )

    with pytest.raises(Exception, match="local engine"):
        run_component(program)


def test_each_stack_backs_up_under_its_own_host_name(prod: Run, run_stack: RunStack) -> None:
    """restic's --host scopes `forget` and `latest`: two stacks must never share one."""
    names = {
        stack: [
            line
            for line in run.artifacts["backup/backup.conf"].text.splitlines()
            if line.startswith("BACKUP_HOSTNAME=")
        ]
        for stack, run in (("prod", prod), ("dev", run_stack("dev")))
    }
    assert names == {
        "prod": ["BACKUP_HOSTNAME=mailstack-prod"],
        "dev": ["BACKUP_HOSTNAME=mailstack-dev"],
    }


def test_prod_must_back_up_on_a_schedule() -> None:
    with pytest.raises(ConfigError, match="mailstack:backupSchedule: prod must back up"):
        _config("prod", backupSchedule="")


# --- config -> args --------------------------------------------------------------------


def _config(stack: str, **values: Any) -> Any:
    raw, secret_keys = stack_config(stack, set=values)
    return validate(raw, secret_keys)


def test_backup_args_carry_the_config(run_stack: RunStack) -> None:
    run = run_stack(
        "dev",
        set={
            "backupKeepDaily": 3,
            "backupCheckReadDataSubset": "2/7",
            "backupCheckSchedule": "Sat *-*-* 01:00:00",
            "app": "mailwizz",
            "storage": True,
        },
    )
    conf = run.artifacts["backup/backup.conf"].text
    assert "BACKUP_KEEP_DAILY=3\n" in conf
    assert "BACKUP_CHECK_SUBSET=2/7\n" in conf
    assert "BACKUP_HOSTNAME=mailstack-dev\n" in conf
    assert "'mariadb db mailwizz docker compose -p mailstack-dev exec -T db'" in conf
    assert "'files storage-data /srv/mailstack/volumes/storage-data'" in conf
    assert "BACKUP_STAGING_DIR=/srv/mailstack/backup/staging" in conf
    timer = run.artifacts["backup/systemd/mailstack-backup-check.timer"].text
    assert "OnCalendar=Sat *-*-* 01:00:00" in timer
    # Published on the data volume, where the proxy's /healthz/backup reads it.
    status = run.artifacts["backup/systemd/mailstack-backup-status.service"].text
    assert " --publish /srv/mailstack/status\n" in status


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"backupCheckReadDataSubset": "150%"}, "backupCheckReadDataSubset"),
        ({"backupCheckReadDataSubset": "all"}, "backupCheckReadDataSubset"),
        ({"backupCheckSchedule": "daily; rm -rf /"}, "backupCheckSchedule"),
    ],
)
def test_bad_backup_values_name_their_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"mailstack:{key}"):
        _config("dev", **values)


def test_b2_repositories_are_refused_with_the_s3_compatible_endpoint_suggested() -> None:
    # The job writes only S3 credentials: a b2: repository would fail on the host.
    with pytest.raises(ConfigError, match=r"mailstack:backupRepository: b2: .*S3-compatible"):
        _config("dev", backupRepository="b2:mailstack-backups:prod")
    endpoint = "s3:https://s3.us-west-004.backblazeb2.com/mailstack-backups/prod"
    assert _config("dev", backupRepository=endpoint).backup.repository == endpoint


def test_local_stack_with_backups_on_is_refused() -> None:
    with pytest.raises(ConfigError, match="mailstack:backupEnabled: backups run on servers"):
        _config("local", backupEnabled=True)


@pytest.mark.parametrize(
    ("kind", "name", "target", "client", "match"),
    [
        (SourceKind.POSTGRES, "Bad Name", "app", (), "name must match"),
        (SourceKind.POSTGRES, "db", "app; drop", (), "plain database name"),
        (SourceKind.FILES, "f", "relative/path", (), "absolute path"),
        (SourceKind.SQLITE, "s", "/x.db", ("docker",), "read on the host"),
        (SourceKind.MARIADB, "m", "app", ("sh", "-c 'x y'"), "spaces or quotes"),
    ],
)
def test_bad_sources_are_refused(
    kind: SourceKind, name: str, target: str, client: tuple[str, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        BackupSource(kind, name, target, client)


@pytest.mark.parametrize(
    ("kind", "exclude", "match"),
    [
        (SourceKind.SQLITE, ("/v/app.db",), "only files sources"),
        (SourceKind.FILES, ("/other/app.db",), "plain paths under it"),
        (SourceKind.FILES, ("/v",), "plain paths under it"),
        (SourceKind.FILES, ("/v/../etc/passwd",), "plain paths under it"),
        (SourceKind.FILES, ("/v/*.db",), "plain paths under it"),
    ],
)
def test_bad_exclusions_are_refused(kind: SourceKind, exclude: tuple[str, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BackupSource(kind, "v", "/v", exclude=exclude)


@pytest.mark.parametrize(
    ("path", "read_only"), [("../app.db", False), ("/data/app.db", False), ("app.db", True)]
)
def test_a_mount_declares_only_plain_sqlite_files_it_can_write(path: str, read_only: bool) -> None:
    with pytest.raises(ValueError, match="plain relative path in a writable mount"):
        Mount("app-data", "/data", read_only=read_only, sqlite=(path,))


def test_duplicate_source_names_are_refused() -> None:
    same = BackupSource(SourceKind.FILES, "f", "/a")
    with pytest.raises(ValueError, match="more than once"):
        BackupSettings("/r", "h", (same, BackupSource(SourceKind.FILES, "f", "/b")))


# --- the status, read when the timers are installed ------------------------------------------


def test_status_is_read_after_the_timers_with_their_triggers_and_never_fails(prod: Run) -> None:
    step = prod.named("backup-status")
    by_urn = prod.by_urn()
    assert "backup-timers" in {by_urn[u].name for u in step.dependencies}
    # Read again when the timers are reinstalled, the repository moves or the
    # server is replaced, never on every run: a per-run trigger would make
    # every preview dirty.
    timers = prod.named("backup-timers")
    init = prod.named("backup-init")
    host, *units = timers.inputs["triggers"]
    assert step.inputs["triggers"] == [host, init.inputs["triggers"][1], *units]
    assert step.inputs["create"].endswith("mailstack-backup-status --json 2>/dev/null || true")
    # Offline nothing was read: unknown, said so, and no warning.
    status = prod.outputs["backup"]["status"]
    assert status["state"] == "unknown"
    assert "pulumi up" in status["message"]


class _StatusMocks(MailstackMocks):
    """The status step prints `stdout`, as the host would."""

    def __init__(self, stdout: str) -> None:
        super().__init__()
        self.stdout = stdout

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        id_, outputs = super().new_resource(args)
        if args.name == "backup-status":
            outputs = {**outputs, "stdout": self.stdout}
        return id_, outputs


def _up_with_status(stdout: str) -> Run:
    config, secret_keys = stack_config("prod", secrets=SECRETS)
    return run_program("prod", config, secret_keys, monitor=RecordingMonitor(_StatusMocks(stdout)))


def _real_status(tmp_path: Path, last_success_age_hours: int | None) -> str:
    """What mailstack-backup-status --json prints on a host in that state."""
    data = tmp_path / "data"
    data.mkdir()
    host = BackupHost(tmp_path, (BackupSource(SourceKind.FILES, "data", str(data)),))
    if last_success_age_hours is not None:
        state = Path(host.paths.state_dir)
        state.mkdir()
        then = int(time.time()) - last_success_age_hours * 3600
        (state / "last-success").write_text(f"{then} then snapshot=abc\n")
    return host.script("mailstack-backup-status", "--json").stdout


@pytest.mark.parametrize(
    ("age", "state", "warned"), [(1, "fresh", False), (30, "stale", True), (None, "never", True)]
)
def test_stack_output_reports_the_hosts_status_and_warns_unless_fresh(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    age: int | None,
    state: str,
    warned: bool,
) -> None:
    caplog.set_level(logging.WARNING)
    run = _up_with_status(_real_status(tmp_path, age))
    status = run.outputs["backup"]["status"]
    assert status["state"] == state
    assert status["checkedAt"]
    if age is not None:
        assert status["lastSuccess"]
        assert status["ageSeconds"] >= age * 3600
    warnings = [r.getMessage() for r in caplog.records if "backups are" in r.getMessage()]
    assert bool(warnings) == warned
    if warned:
        assert warnings == [f"backups are {state}: {status['message']}"]


def test_a_host_that_says_nothing_useful_is_unknown_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    run = _up_with_status("")  # exit 2 on a broken config prints nothing
    status = run.outputs["backup"]["status"]
    assert status["state"] == "unknown"
    assert "no status from the host" in status["message"]
    assert any("backups are unknown" in r.getMessage() for r in caplog.records)
