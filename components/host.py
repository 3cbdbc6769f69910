"""Where services run: the contract between the server and everything on it.

The server component produces a `Host`; services and backups consume it, so
neither needs to know whether it runs on a Hetzner server or the local engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command


@dataclass(frozen=True)
class Host:
    """A machine with a Docker engine that mailstack deploys onto."""

    name: str
    """Short name used in resource names and file paths, e.g. `server` or `local`."""
    connection: command.remote.ConnectionArgs | None
    """SSH connection for pulumi-command `remote` steps; None means the local engine."""
    data_dir: str
    """Directory holding all persistent data (the mounted volume on servers)."""
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Steps that must finish before anything touches the host (the cloud-init wait,
    then the access step)."""

    @property
    def is_local(self) -> bool:
        return self.connection is None
