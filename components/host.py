"""Where services run, and the one way to run a step there.

The server component produces a `Host`; services and backups consume it, so
neither needs to know whether it runs on a Hetzner server or the local engine.
Every command on a host goes through `run_step`, which gives each step the
host's identity as a trigger: the engine passes a replacement on through
inputs, not through `depends_on`, so a replaced server gets every step again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command

from common.layout import HostLayout

Step = command.local.Command | command.remote.Command
"""A command run on a host: locally for the local engine, over SSH on a server."""


@dataclass(frozen=True)
class Host:
    """A machine with a Docker engine that mailstack deploys onto."""

    name: str
    """Short name used in resource names, e.g. `server` or `local`."""
    connection: command.remote.ConnectionArgs | None
    """SSH connection for pulumi-command `remote` steps; None means the local engine."""
    layout: HostLayout
    """Every path on the host and the compose project name."""
    identity: pulumi.Input[str] | None = None
    """What changes when the machine is replaced (the server's id); None locally."""
    ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Steps that must finish before anything touches the host (the cloud-init wait,
    then the access step)."""
    booted: Sequence[pulumi.Resource] | None = None
    """Steps after which the host's Docker engine and data volume are up (the
    cloud-init wait): enough for steps that start nothing (`run_step`'s
    `starts_nothing`). None: the same as `ready`."""

    @property
    def is_local(self) -> bool:
        return self.connection is None

    @property
    def data_dir(self) -> str:
        return self.layout.data_dir


def run_step(
    host: Host,
    name: str,
    create: pulumi.Input[str],
    *,
    update: pulumi.Input[str] | None = None,
    delete: pulumi.Input[str] | None = None,
    stdin: pulumi.Input[str] | None = None,
    triggers: Sequence[pulumi.Input[str]] = (),
    after: Sequence[pulumi.Resource] = (),
    secret_stdin: bool = False,
    secret_stdout: bool = False,
    delete_before_replace: bool = False,
    starts_nothing: bool = False,
    parent: pulumi.Resource,
) -> Step:
    """A shell step on `host`: `local` for the local engine, `remote` over SSH.

    It waits for `host.ready` and `after`, and runs again (a replacement) when a
    trigger or the host's identity changes. `delete_before_replace` is for steps
    whose delete undoes exactly what their create did (remove a file, disable a
    timer): run after the new create, such a delete would undo the new step.
    `starts_nothing` is for steps that only write files or pull images: they
    wait for `host.booted` only, side by side with the access step, since
    nothing they do runs before a step that waits for `ready` starts it.
    `secret_stdout` is for steps that print a secret (the Swarm join tokens).
    """
    all_triggers = [*([host.identity] if host.identity is not None else []), *triggers]
    ready = host.booted if starts_nothing and host.booted is not None else host.ready
    opts = pulumi.ResourceOptions(
        parent=parent,
        depends_on=[*ready, *after],
        delete_before_replace=delete_before_replace or None,
        additional_secret_outputs=[
            *(["stdin"] if secret_stdin else []),
            *(["stdout"] if secret_stdout else []),
        ]
        or None,
    )
    if host.connection is None:
        return command.local.Command(
            name,
            create=create,
            update=update,
            delete=delete,
            stdin=stdin,
            triggers=all_triggers or None,
            interpreter=["/bin/sh", "-c"],
            # Our scripts never print their stdin; compose reports on stderr.
            logging=command.local.Logging.STDERR,
            opts=opts,
        )
    return command.remote.Command(
        name,
        connection=host.connection,
        create=create,
        update=update,
        delete=delete,
        stdin=stdin,
        triggers=all_triggers or None,
        logging=command.remote.Logging.STDERR,
        opts=opts,
    )
