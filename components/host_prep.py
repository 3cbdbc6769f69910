"""What a host needs before its services deploy: registry login, MailWizz's source.

`HostPrep` (`mailstack:host:Prep`) runs, on the host, `docker login` for a
private registry (the password on stdin, a secret input) and the delivery
of a licensed MailWizz source archive: downloaded by the host, checked
against its SHA-256, unpacked into the project's `mailwizz/` directory (the
preset mounts it). The services wait for these through `Host.ready`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi

from common import encode
from components.host import Host, Step, run_step
from components.images import RegistryLogin, login_command, logout_command


@dataclass(frozen=True)
class SourceArchive:
    """A zip archive of an app's source, fetched by the host."""

    url: pulumi.Input[str]
    """https URL (secret: a licensed download link is a credential)."""
    sha256: str
    """The archive's SHA-256 (64 hex): what the host verifies before unpacking."""
    directory: str
    """Where its contents go on the host (replacing files, keeping others)."""
    owner: str = "33:33"
    """Who owns the unpacked files (www-data in the php images)."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("archive sha256 must be 64 lowercase hex digits")


def fetch_archive_command(archive: SourceArchive) -> str:
    """Shell that fetches, verifies and unpacks the archive (URL on stdin, never in argv).

    curl reads the URL from its config on stdin (`-K -`, written by the shell
    builtin printf). Unpacked with Python's zipfile (no `unzip` needed); a
    single top-level directory (MailWizz's `latest/`) is unwrapped. A marker
    with the checksum makes a second run with the same archive a no-op.
    """
    directory = encode.shell(archive.directory)
    marker = encode.shell(f"{archive.directory}/.mailstack-archive-sha256")
    return f"""set -eu
url=$(cat)
if [ "$(cat {marker} 2>/dev/null)" = {archive.sha256} ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'url = "%s"\\n' "$url" | curl -fsSL --proto '=https' --max-time 600 -o "$tmp/source.zip" -K -
echo "{archive.sha256}  $tmp/source.zip" | sha256sum -c --quiet -
python3 -m zipfile -e "$tmp/source.zip" "$tmp/unpacked"
src="$tmp/unpacked"
set -- "$src"/*
if [ "$#" -eq 1 ] && [ -d "$1" ]; then src=$1; fi
mkdir -p {directory}
cp -a "$src/." {directory}/
chown -R {archive.owner} {directory}
echo {archive.sha256} > {marker}
"""


@dataclass(frozen=True)
class HostPrepArgs:
    host: Host
    login: RegistryLogin | None = None
    archives: tuple[SourceArchive, ...] = field(default_factory=tuple)


class HostPrep(pulumi.ComponentResource):
    """Registry login and source archives on one host: `mailstack:host:Prep`."""

    steps: list[Step]

    def __init__(
        self, name: str, args: HostPrepArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:host:Prep", name, None, opts)
        self.steps = []
        if args.login is not None:
            self.steps.append(
                run_step(
                    args.host,
                    f"{name}-registry-login",
                    login_command(args.login),
                    delete=logout_command(args.login),
                    stdin=pulumi.Output.secret(args.login.password),
                    secret_stdin=True,
                    triggers=[args.login.address, args.login.username],
                    parent=self,
                )
            )
        for i, archive in enumerate(args.archives):
            self.steps.append(
                run_step(
                    args.host,
                    f"{name}-archive-{i}",
                    fetch_archive_command(archive),
                    stdin=pulumi.Output.secret(archive.url),
                    secret_stdin=True,
                    triggers=[archive.sha256, archive.directory],
                    parent=self,
                )
            )
        self.register_outputs({})
