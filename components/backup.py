"""Backups that provably restore: restic on the host, run by a systemd timer.

Why a systemd service + timer on the host rather than a scheduled container:
the job runs outside the containers it dumps and restarts (a restore stops the
app; a container of the same compose project would be stopping around itself),
`Persistent=true` catches a run missed while the server was off, journald keeps
the logs next to everything else, and there is no extra image to keep patched
(restic and sqlite3 come from the OS archive and unattended upgrades).

The scripts (assets/backup/) are the same on every host; everything that varies
is in the rendered config file, including how each database is reached: a
`BackupSource` carries the words that run its client tools (`docker compose -p
mailstack exec -T postgres` on a server, plain `env PGHOST=...` in the tests).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command

from common import artifacts
from common.layout import HostLayout
from components.backup_sources import SWARM_HELPER, AppControl, BackupSource
from components.host import Host, Step, run_step
from components.templates import environment

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "backup"
SCRIPTS = (
    "mailstack-backup",
    "mailstack-restore",
    "mailstack-backup-status",
    "mailstack-backup-lib.sh",
)
COMMANDS = ("mailstack-backup", "mailstack-restore", "mailstack-backup-status")
SWARM_SCRIPTS = (SWARM_HELPER,)
"""Installed on a Swarm's db node only: how the scripts reach the stack's tasks."""
UNITS = (
    "mailstack-backup.service",
    "mailstack-backup.timer",
    "mailstack-backup-check.service",
    "mailstack-backup-check.timer",
    "mailstack-backup-status.service",
    "mailstack-backup-status.timer",
)
TIMERS = ("mailstack-backup.timer", "mailstack-backup-check.timer", "mailstack-backup-status.timer")


@dataclass(frozen=True)
class BackupSettings:
    """Everything the rendered config file says (no secrets)."""

    repository: str
    """restic repository, e.g. `s3:https://fsn1.your-objectstorage.com/bucket/path`."""
    hostname: str
    """restic `--host` of this host's snapshots, e.g. `mailstack-prod`."""
    sources: tuple[BackupSource, ...]
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    check_subset: str = "5%"
    max_age_hours: int = 26
    heartbeat_url: str = ""
    """Rendered into the file as is: on a server it comes from `BackupArgs.heartbeat_url`."""
    app: AppControl = field(default_factory=AppControl)
    paths: HostLayout = field(default_factory=HostLayout)
    """Where the config, secrets, state and staging area live on the host."""
    uses_credentials: bool = True
    """Whether the object store's keys file exists (s3 targets)."""

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backup sources named more than once: {dupes}")


@dataclass(frozen=True)
class Schedules:
    """When the timers fire (systemd OnCalendar expressions)."""

    backup: str = "*-*-* 03:15:00"
    """The backup job."""
    check: str = "Sun *-*-* 05:30:00"
    """`restic check --read-data-subset`."""
    status_interval: str = "10min"
    """How often the published status is refreshed (systemd time span); each
    backup and check run refreshes it too."""


# --- pure renderers ----------------------------------------------------------------


def render_config(settings: BackupSettings) -> str:
    """The bash config file all three scripts read."""
    p = settings.paths
    return (
        environment(ASSETS)
        .get_template("backup.conf.j2")
        .render(
            repository=settings.repository,
            password_file=p.password_file,
            credentials_file=p.credentials_file if settings.uses_credentials else "",
            hostname=settings.hostname,
            keep_daily=settings.keep_daily,
            keep_weekly=settings.keep_weekly,
            keep_monthly=settings.keep_monthly,
            check_subset=settings.check_subset,
            max_age_hours=settings.max_age_hours,
            heartbeat_url=settings.heartbeat_url,
            state_dir=p.state_dir,
            metrics_dir=p.metrics_dir,
            staging_dir=p.staging_dir,
            restore_dir=p.restore_dir,
            lock_file=p.lock_file,
            sources=[s.line() for s in settings.sources],
            app_stop=settings.app.stop,
            app_start=settings.app.start,
            app_health=settings.app.health,
            app_health_timeout=settings.app.health_timeout_seconds,
            app_drill=settings.app.drill,
        )
    )


def render_credentials(access_key_id: str, secret_access_key: str) -> str:
    """The object store's keys as environment assignments (root-only file)."""
    return (
        f"AWS_ACCESS_KEY_ID={shlex.quote(access_key_id)}\n"
        f"AWS_SECRET_ACCESS_KEY={shlex.quote(secret_access_key)}\n"
    )


def render_units(
    schedules: Schedules,
    bin_dir: str = HostLayout.bin_dir,
    config_file: str = HostLayout.config_file,
    timeout: str = "6h",
    status_dir: str = HostLayout().status_dir,
) -> dict[str, str]:
    """The systemd service and timer units, by file name."""
    env = environment(ASSETS)
    values = {
        "bin_dir": bin_dir,
        "config_file": config_file,
        "timeout": timeout,
        "status_dir": status_dir,
    }
    timers = {
        "mailstack-backup.timer": {"schedule": schedules.backup},
        "mailstack-backup-check.timer": {"schedule": schedules.check},
        "mailstack-backup-status.timer": {"interval": schedules.status_interval},
    }
    return {
        unit: env.get_template(f"systemd/{unit}.j2").render(timers.get(unit, values))
        for unit in UNITS
    }


def script_text(name: str) -> str:
    return (ASSETS / name).read_text()


def ssh_command(
    connection: command.remote.ConnectionArgs, remote: str, tty: bool = False
) -> pulumi.Output[str]:
    """`ssh [-t] -p PORT user@host REMOTE` for a remote connection."""
    flags = "-t " if tty else ""
    return pulumi.Output.all(connection.host, connection.user, connection.port).apply(
        lambda v: f"ssh {flags}-p {int(v[2] or 22)} {v[1] or 'root'}@{v[0]} {remote}"
    )


@dataclass(frozen=True)
class BackupArgs:
    """What the Backup component installs on one host."""

    host: Host
    """Where to install; remote steps wait for `host.ready`."""
    settings: BackupSettings
    """The rendered config file's content."""
    schedules: Schedules | None
    """When the backup and the repository check run (systemd OnCalendar). None:
    never on a schedule: the tools and the repository only, for a restore or a
    restore drill (throwaway stacks), and no unit or timer is installed."""
    password: pulumi.Output[str]
    """restic repository password (a Pulumi secret)."""
    heartbeat_url: pulumi.Output[str] | None = None
    """URL pinged after each success (a Pulumi secret: whoever has it can fake the
    ping). Set, the whole config file travels as a secret."""
    s3_access_key_id: str = ""
    """Object store access key id (s3 targets)."""
    s3_secret_access_key: pulumi.Output[str] | None = None
    """Object store secret key (a Pulumi secret; s3 targets)."""
    swarm: bool = False
    """The host is a Swarm's db node: install `mailstack-swarm`, which the
    sources and the app control reach the stack's tasks with."""


# --- the component -----------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _install(path: str, mode: str, dir_mode: str = "0755") -> str:
    """Shell that writes stdin to `path` as root, never world-readable in between."""
    parent = path.rsplit("/", 1)[0]
    return (
        f"sudo -n sh -c 'umask 077 && install -d -m {dir_mode} {parent} && "
        f"install -o root -g root -m {mode} /dev/stdin {path}'"
    )


class Backup(pulumi.ComponentResource):
    """Installs the backup scripts, config, secrets and timers on a host over SSH."""

    status: pulumi.Output[dict[str, Any]]
    """The host's backup status when the timers were last installed (`parse_status`)."""
    status_command: pulumi.Output[str]
    restore_command: pulumi.Output[str]
    installed: Sequence[pulumi.Resource]
    """The steps that install the backup tools, their config and secrets: after
    them, the deploy steps can take pre-update snapshots. (Not the repository's
    init: a release is only snapshotted when an earlier one is recorded, so the
    repository exists by then, and the deploy does not wait one step longer.)"""

    def __init__(
        self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:backup:Backup", name, None, opts)
        connection = args.host.connection
        if connection is None:
            raise ValueError(
                f"Backup {name!r}: host {args.host.name!r} is the local engine; backups "
                "install on servers only"
            )
        settings, paths = args.settings, args.settings.paths
        host = args.host

        def step(
            suffix: str,
            create: pulumi.Input[str],
            after: Sequence[pulumi.Resource] = (),
            stdin: pulumi.Input[str] | None = None,
            delete: str | None = None,
            triggers: Sequence[str] = (),
            secret: bool = False,
        ) -> Step:
            # A delete here undoes exactly what its create did (removes a file,
            # disables the timers): run after a replacement's create, it would
            # undo the new step, so the old one goes first.
            return run_step(
                host,
                f"{name}-{suffix}",
                create,
                delete=delete,
                stdin=stdin,
                triggers=triggers,
                after=after,
                secret_stdin=secret,
                delete_before_replace=delete is not None,
                parent=self,
            )

        packages = step(
            "packages",
            "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "
            "install -y --no-install-recommends restic sqlite3 curl",
        )

        installed: list[pulumi.Resource] = [packages]
        commands = (*COMMANDS, *SWARM_SCRIPTS)
        for script in (*SCRIPTS, *(SWARM_SCRIPTS if args.swarm else ())):
            text = script_text(script)
            mode = "0644" if script.endswith(".sh") else "0755"
            target = f"{paths.lib_dir}/{script}"
            link = f"{paths.bin_dir}/{script}" if script in commands else ""
            installed.append(
                step(
                    f"script-{script.removeprefix('mailstack-').removesuffix('.sh')}",
                    _install(target, mode)
                    + (f" && sudo -n ln -sfn {target} {link}" if link else ""),
                    stdin=text,
                    delete=f"sudo -n rm -f {target} {link}".rstrip(),
                )
            )
            artifacts.publish(f"backup/bin/{script}", text, int(mode, 8))

        # Root-only: it holds the heartbeat URL (whoever has it can fake a ping),
        # and only root reads it (the units, `sudo mailstack-backup-status`).
        # With a heartbeat the file is a secret end to end (state, previews,
        # synth's placeholder); without one its diff stays reviewable.
        config_text: pulumi.Input[str] = render_config(settings)
        if args.heartbeat_url is not None:
            config_text = pulumi.Output.secret(
                args.heartbeat_url.apply(
                    lambda url: render_config(dataclasses.replace(settings, heartbeat_url=url))
                )
            )
        artifacts.publish("backup/backup.conf", config_text, 0o600)
        installed.append(
            step(
                "config",
                _install(paths.config_file, "0600"),
                stdin=config_text,
                secret=args.heartbeat_url is not None,
            )
        )

        installed.append(
            step(
                "password",
                _install(paths.password_file, "0600", dir_mode="0700"),
                stdin=pulumi.Output.secret(args.password),
                secret=True,
            )
        )
        if settings.uses_credentials:
            if args.s3_secret_access_key is None:
                raise ValueError(f"Backup {name!r}: an s3 repository needs the secret key")
            key_id = args.s3_access_key_id
            credentials: pulumi.Output[str] = pulumi.Output.secret(
                args.s3_secret_access_key.apply(lambda secret: render_credentials(key_id, secret))
            )
            installed.append(
                step(
                    "credentials",
                    _install(paths.credentials_file, "0600", dir_mode="0700"),
                    stdin=credentials,
                    secret=True,
                )
            )

        if args.swarm:
            # The exporter binds it read-only, and Swarm refuses a task whose
            # bind source is missing (compose would create it): it must exist
            # before the stack is deployed, not after the first backup.
            installed.append(step("metrics-dir", f"sudo -n install -d -m 0755 {paths.metrics_dir}"))
        # init never overwrites an existing repository (see mailstack-backup);
        # a new repository (another bucket or path) is initialised when it is set.
        self.installed = tuple(installed)
        init = step(
            "init",
            f"sudo -n {paths.bin_dir}/mailstack-backup init",
            after=installed,
            triggers=[_digest(settings.repository)],
        )
        if args.schedules is None:
            self.status = pulumi.Output.from_input(unscheduled_status())
        else:
            self.status = self._schedule(args.schedules, paths, step, init, settings.repository)

        self.status_command = ssh_command(
            connection, f"sudo {paths.bin_dir}/mailstack-backup-status"
        )
        self.restore_command = ssh_command(
            connection, f"sudo {paths.bin_dir}/mailstack-restore", tty=True
        )
        self.register_outputs(
            {
                "status": self.status,
                "statusCommand": self.status_command,
                "restoreCommand": self.restore_command,
            }
        )

    def _schedule(
        self,
        schedules: Schedules,
        paths: HostLayout,
        step: Callable[..., Step],
        init: pulumi.Resource,
        repository: str,
    ) -> pulumi.Output[dict[str, Any]]:
        """The units and timers, and the status read when they are installed."""
        units = render_units(
            schedules, paths.bin_dir, paths.config_file, status_dir=paths.status_dir
        )
        unit_steps: list[pulumi.Resource] = []
        for unit, text in units.items():
            artifacts.publish(f"backup/systemd/{unit}", text)
            unit_steps.append(
                step(
                    f"unit-{unit.removeprefix('mailstack-').replace('.', '-')}",
                    _install(f"/etc/systemd/system/{unit}", "0644"),
                    stdin=text,
                    delete=f"sudo -n rm -f /etc/systemd/system/{unit}",
                )
            )

        timers = " ".join(TIMERS)
        enabled = step(
            "timers",
            f"sudo -n systemctl daemon-reload && sudo -n systemctl enable --now {timers} && "
            "sudo -n systemctl start --no-block mailstack-backup-status.service",
            after=[init, *unit_steps],
            delete=f"sudo -n systemctl disable --now {timers}; sudo -n systemctl daemon-reload",
            triggers=[_digest(text) for text in units.values()],
        )

        # Read when the timers are (re)installed, not on every up: a trigger
        # that changes on every run would make every preview show a change,
        # and `pulumi preview --expect-no-changes` could never detect drift.
        # The live state is `make backup-status` (and the metrics). Never
        # fails: a broken backup must not block deploying its fix, so
        # whatever the script says (or not) is reported, not raised.
        status = step(
            "status",
            f"sudo -n {paths.bin_dir}/mailstack-backup-status --json 2>/dev/null || true",
            after=[enabled],
            # Read again for a new repository too: the old one's state is moot.
            triggers=[_digest(repository), *(_digest(t) for t in units.values())],
        )
        return status.stdout.apply(lambda out: _report_status(out, self))


STATES = ("fresh", "stale", "never", "failed", "unknown")


def unscheduled_status() -> dict[str, Any]:
    """The `status` output of a host that never backs up on a schedule."""
    return {
        **_UNKNOWN,
        "message": "no scheduled backups on this stack (backupSchedule is empty)",
    }


_UNKNOWN: dict[str, Any] = {
    "state": "unknown",
    "lastSuccess": None,
    "ageSeconds": None,
    "lastFailure": None,
    "lastCheckFailure": None,
    "checkedAt": None,
}


def parse_status(stdout: str | None) -> dict[str, Any]:
    """The `status` output from what `mailstack-backup-status --json` printed.

    None is a step that has not run (a preview, offline synth); anything that
    is not the script's report (exit 2 on a broken config prints nothing) is
    `unknown` too, with the reason.
    """
    unknown = _UNKNOWN
    if stdout is None:
        return {**unknown, "message": "not read here: `pulumi up` reads it on the host"}
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("state") not in STATES:
        return {**unknown, "message": f"no status from the host: {stdout.strip()[:200]!r}"}
    return {
        "state": report["state"],
        "lastSuccess": report.get("lastSuccess"),
        "ageSeconds": report.get("ageSeconds"),
        "lastFailure": report.get("lastFailure"),
        "lastCheckFailure": report.get("lastCheckFailure"),
        "checkedAt": report.get("generatedAt"),
        "message": report.get("message", ""),
    }


def _report_status(stdout: str | None, backup: Backup) -> dict[str, Any]:
    status = parse_status(stdout)
    if stdout is not None and status["state"] != "fresh":
        pulumi.log.warn(f"backups are {status['state']}: {status['message']}", resource=backup)
    return status
