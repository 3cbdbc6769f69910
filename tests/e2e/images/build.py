"""Build the stand-in images the e2e tests and `make local STANDINS=1` run.

No registry is reachable in CI, so each official image the rendered compose
file uses is replaced by one built FROM the local Debian base image with
Debian's packages (or a small Python stand-in). A stand-in never carries the
official name (or `docker compose` would take it for the real image in a
user's `make local`): it is tagged with the name the compose file gets when
rendered with `imageRegistryMirror: mailstack-standin` (the same rewrite a real
mirror gets, components/services/mirror.py): `caddy:2.11.7` is built as
`mailstack-standin/library/caddy:2.11.7`, labelled `org.mailstack.standin=true`.

An image is rebuilt when its build context or build arguments change: each
carries the hash of what it was built from in a label.

    python -m tests.e2e.images.build            # build what is missing or stale
    python -m tests.e2e.images.build --force    # rebuild everything
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from common.images import STANDIN_LABEL, STANDIN_NAMESPACE
from components.services import kinds, monitoring, presets
from components.services.mirror import mirrored
from tests.caddy import CADDY

HERE = Path(__file__).resolve().parent
DEBIAN = "mailstack-test/debian:bookworm"
BASE = "mailstack-test/standin-base:1"
SOURCE_LABEL = "org.mailstack.standin.source"
NEXT_LISTMONK = f"{presets.LISTMONK.name}:v5.0.4"
"""A second app tag (as `appImage` names it): the e2e update test deploys it over the pinned one."""
BROKEN_LISTMONK = f"{presets.LISTMONK.name}:v5.0.5-broken"
"""An app tag that never turns healthy: the failed-update test deploys it."""
STANDIN_CONFIG = {"imageRegistryMirror": STANDIN_NAMESPACE}
"""The config that makes a rendered compose file run the stand-ins."""
ENV_APP = "mailstack/env-app:1"
"""The `appImage` of an app that reports its environment, Redis and S3 wiring (the
seed-system e2e tests): no real image, so the compose file names its stand-in
`standin(ENV_APP)` like every other."""


def standin(ref: str) -> str:
    """The stand-in's tag for the official image `ref` (what the compose file then names)."""
    return mirrored(ref, STANDIN_NAMESPACE)


@dataclass(frozen=True)
class Standin:
    context: str
    tags: tuple[str, ...]
    args: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Files from outside the context, copied into it for the build (name -> path)."""


STANDINS = (
    Standin("caddy", (standin(kinds.CADDY.ref),), files={"caddy": CADDY}),
    Standin("postgres", (standin(kinds.POSTGRES.ref),)),
    Standin("redis", (standin(kinds.REDIS.ref),)),
    Standin("seaweedfs", (standin(kinds.SEAWEEDFS.ref),)),
    Standin("mailpit", (standin(kinds.MAILPIT.ref),)),
    Standin("env-app", (standin(ENV_APP),)),
    Standin("node-exporter", (standin(kinds.NODE_EXPORTER.ref),)),
    Standin("listmonk", (standin(presets.LISTMONK.ref),), {"VERSION": presets.LISTMONK.tag}),
    Standin("listmonk", (standin(NEXT_LISTMONK),), {"VERSION": "v5.0.4"}),
    Standin("listmonk", (standin(BROKEN_LISTMONK),), {"VERSION": "v5.0.5-broken", "BROKEN": "1"}),
    Standin("prometheus", (standin(monitoring.PROMETHEUS.ref),)),
    Standin("alertmanager", (standin(monitoring.ALERTMANAGER.ref),)),
    Standin("blackbox", (standin(monitoring.BLACKBOX.ref),)),
    Standin("cadvisor", (standin(monitoring.CADVISOR.ref),)),
)


def label(tag: str) -> str | None:
    """The source hash an image was built from; None when the image is missing."""
    done = subprocess.run(
        [
            "docker",
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{SOURCE_LABEL}"}}}}',
            tag,
        ],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def source_hash(context: str, args: dict[str, str], files: dict[str, str] | None = None) -> str:
    digest = hashlib.sha256()
    for path in sorted((HERE / context).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(HERE)}\0".encode() + path.read_bytes() + b"\0")
    for name, outside in sorted((files or {}).items()):
        digest.update(f"{name}\0".encode() + Path(outside).read_bytes() + b"\0")
    for key, value in sorted(args.items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()


def build(
    context: str,
    tags: tuple[str, ...],
    args: dict[str, str],
    source: str,
    files: dict[str, str] | None = None,
) -> None:
    cmd = ["docker", "build", "-q", "--label", f"{STANDIN_LABEL}=true"]
    cmd += ["--label", f"{SOURCE_LABEL}={source}"]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for tag in tags:
        cmd += ["-t", tag]
    with tempfile.TemporaryDirectory() as tmp:
        directory = HERE / context
        if files:
            directory = Path(shutil.copytree(directory, Path(tmp) / context))
            for name, outside in files.items():
                shutil.copy2(outside, directory / name)
        subprocess.run([*cmd, str(directory)], check=True, stdout=subprocess.DEVNULL)


def official_standin_tags() -> list[str]:
    """Tags of stand-in images that carry a name outside the `mailstack-*` namespaces.

    Older versions of this module tagged the stand-ins `caddy:2.10.0`,
    `postgres:17.5`, ...; compose would run those in place of the real images.
    """
    argv = ["docker", "image", "ls", "--filter", f"label={STANDIN_LABEL}=true"]
    listed = subprocess.run(
        [*argv, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(t for t in listed if not t.startswith("mailstack-") and not t.endswith(":<none>"))


def remove_official_tags() -> list[str]:
    """Untag every stand-in still named like an official image (other tags keep it)."""
    removed = []
    for tag in official_standin_tags():
        # Docker refuses while a container still uses the image: that tag stays,
        # and test_standin_names reports it.
        done = subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
        if done.returncode == 0:
            removed.append(tag)
    return removed


def build_all(force: bool = False) -> list[str]:
    """Build every stand-in that is missing or stale (or all with `force`); return the tags."""
    if label(DEBIAN) is None:
        raise RuntimeError(f"{DEBIAN} is missing: run scripts/build-base-image.sh")
    remove_official_tags()
    base_source = source_hash("base", {})
    if force or label(BASE) != base_source:
        build("base", (BASE,), {}, base_source)
    for standin in STANDINS:
        # The base's hash is part of each stand-in's: a new base rebuilds them all.
        args = {"BASE": BASE, **standin.args}
        source = source_hash(standin.context, {**args, "base-source": base_source}, standin.files)
        if force or any(label(t) != source for t in standin.tags):
            build(standin.context, standin.tags, args, source, standin.files)
    return [t for standin in STANDINS for t in standin.tags]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    tags = build_all(parser.parse_args(argv).force)
    print("\n".join(tags))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
