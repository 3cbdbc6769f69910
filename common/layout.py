"""Where everything lives on a host, and the compose project's name: one object owns it.

The server mounts its data volume at `data_dir`; every persistent file lives
below it (the compose project, the named volumes, the backup staging area, the
published backup status), so a replaced server that gets the volume back gets
everything back. Host-wide files (the backup tools, their config and secrets,
their state) live in the usual system places and are written again by
`pulumi up`.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVER_DATA_DIR = "/srv/mailstack"
"""Where the data volume is mounted on a server."""


def project_name(stack: str) -> str:
    """The compose project (and restic host) name of a Pulumi stack, e.g. `mailstack-prod`."""
    return f"mailstack-{stack}"


@dataclass(frozen=True)
class HostLayout:
    """Every path mailstack uses on one host, and its compose project name."""

    data_dir: str = SERVER_DATA_DIR
    """The data volume's mount point (servers); `build/local` for the local stack."""
    project: str = "mailstack"
    """Compose project name, e.g. `mailstack-prod` (`project_name`)."""
    bin_dir: str = "/usr/local/sbin"
    """Where the backup commands are linked; the units' ExecStart points here."""
    lib_dir: str = "/usr/local/lib/mailstack-backup"
    config_file: str = "/etc/mailstack/backup.conf"
    secrets_dir: str = "/etc/mailstack/backup"
    state_dir: str = "/var/lib/mailstack-backup"
    metrics_dir: str = "/var/lib/mailstack-backup/metrics"
    """Prometheus textfile-collector directory the monitoring reads."""
    lock_file: str = "/run/lock/mailstack-backup.lock"
    releases_root: str = ""
    """Where the release history lives when not under `data_dir`: the local
    stack's `data_dir` (build/local) is rewritten by every synth."""

    @classmethod
    def for_stack(cls, stack: str, data_dir: str = SERVER_DATA_DIR) -> HostLayout:
        return cls(data_dir=data_dir, project=project_name(stack))

    @property
    def compose_dir(self) -> str:
        """compose.yaml, the Caddyfile, preset files and `env/` (secret env files)."""
        return f"{self.data_dir}/compose"

    @property
    def stack_dir(self) -> str:
        """A Swarm's first manager: the stack file, the files it ships as configs
        and `env/`; the folder `docker stack deploy` resolves `./` paths against."""
        return f"{self.data_dir}/stack"

    @property
    def volumes_dir(self) -> str:
        """Servers: each named volume is bind-mounted from `<volumes_dir>/<name>`."""
        return f"{self.data_dir}/volumes"

    @property
    def releases_dir(self) -> str:
        """Each service's release history and the saved configuration of its
        last good releases (assets/services/mailstack-release)."""
        return self.releases_root or f"{self.data_dir}/releases"

    @property
    def status_dir(self) -> str:
        """Where `backup.json` and the `backup.stale` marker are published for the
        proxy's /healthz/backup (world-readable, no secrets)."""
        return f"{self.data_dir}/status"

    @property
    def staging_dir(self) -> str:
        """Dumps are staged on the data volume."""
        return f"{self.data_dir}/backup/staging"

    @property
    def restore_dir(self) -> str:
        return f"{self.data_dir}/backup/restore"

    @property
    def local_repository(self) -> str:
        """A restic repository on the data volume (throwaways: gone with it)."""
        return f"{self.data_dir}/backup/restic"

    @property
    def password_file(self) -> str:
        return f"{self.secrets_dir}/restic-password"

    @property
    def credentials_file(self) -> str:
        return f"{self.secrets_dir}/credentials.env"

    @property
    def last_success_file(self) -> str:
        return f"{self.state_dir}/last-success"
