"""Build the stand-in images the e2e tests run, tagged with the official names.

No registry is reachable in CI, so each official image the rendered compose
file uses is replaced by one built FROM the local Debian base image with
Debian's packages (or a small Python stand-in), and tagged with the exact
name:tag the compose file names: the compose file runs unchanged.

An image is rebuilt when its build context or build arguments change: each
carries the hash of what it was built from in a label (the tags are the
official ones, so they cannot say which stand-in version they hold).

    python -m tests.e2e.images.build            # build what is missing or stale
    python -m tests.e2e.images.build --force    # rebuild everything
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from components.services import kinds, presets

HERE = Path(__file__).resolve().parent
DEBIAN = "mailstack-test/debian:bookworm"
BASE = "mailstack-test/standin-base:1"
SOURCE_LABEL = "org.mailstack.standin.source"
NEXT_LISTMONK = f"{presets.LISTMONK.name}:v5.0.4"
"""A second app tag: the e2e update test deploys it over the pinned one."""
BROKEN_LISTMONK = f"{presets.LISTMONK.name}:v5.0.5-broken"
"""An app tag that never turns healthy: the failed-update test deploys it."""
ENV_APP = "mailstack-standin/env-app:1"
"""An app that reports its environment, Redis and S3 wiring (the seed-system e2e tests)."""


@dataclass(frozen=True)
class Standin:
    context: str
    tags: tuple[str, ...]
    args: dict[str, str] = field(default_factory=dict)


STANDINS = (
    Standin("caddy", (kinds.CADDY.ref,)),
    Standin("postgres", (kinds.POSTGRES.ref,)),
    Standin("redis", (kinds.REDIS.ref,)),
    # Under its own name too: the stand-in renaming drops the official one.
    Standin(
        "seaweedfs", (kinds.SEAWEEDFS.ref, f"mailstack-standin/seaweedfs:{kinds.SEAWEEDFS.tag}")
    ),
    Standin("mailpit", (kinds.MAILPIT.ref,)),
    Standin("env-app", (ENV_APP,)),
    Standin("node-exporter", (kinds.NODE_EXPORTER.ref,)),
    Standin("listmonk", (presets.LISTMONK.ref,), {"VERSION": presets.LISTMONK.tag}),
    Standin("listmonk", (NEXT_LISTMONK,), {"VERSION": "v5.0.4"}),
    Standin("listmonk", (BROKEN_LISTMONK,), {"VERSION": "v5.0.5-broken", "BROKEN": "1"}),
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


def source_hash(context: str, args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted((HERE / context).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(HERE)}\0".encode() + path.read_bytes() + b"\0")
    for key, value in sorted(args.items()):
        digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()


def build(context: str, tags: tuple[str, ...], args: dict[str, str], source: str) -> None:
    cmd = ["docker", "build", "-q", "--label", "org.mailstack.standin=true"]
    cmd += ["--label", f"{SOURCE_LABEL}={source}"]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for tag in tags:
        cmd += ["-t", tag]
    subprocess.run([*cmd, str(HERE / context)], check=True, stdout=subprocess.DEVNULL)


def build_all(force: bool = False) -> list[str]:
    """Build every stand-in that is missing or stale (or all with `force`); return the tags."""
    if label(DEBIAN) is None:
        raise RuntimeError(f"{DEBIAN} is missing: run scripts/build-base-image.sh")
    base_source = source_hash("base", {})
    if force or label(BASE) != base_source:
        build("base", (BASE,), {}, base_source)
    for standin in STANDINS:
        # The base's hash is part of each stand-in's: a new base rebuilds them all.
        args = {"BASE": BASE, **standin.args}
        source = source_hash(standin.context, {**args, "base-source": base_source})
        if force or any(label(t) != source for t in standin.tags):
            build(standin.context, standin.tags, args, source)
    return [t for standin in STANDINS for t in standin.tags]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    tags = build_all(parser.parse_args(argv).force)
    print("\n".join(tags))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
