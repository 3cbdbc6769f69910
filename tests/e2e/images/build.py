"""Build the stand-in images the e2e tests run, tagged with the official names.

No registry is reachable in CI, so each official image the rendered compose
file uses is replaced by one built FROM the local Debian base image with
Debian's packages (or a small Python stand-in), and tagged with the exact
name:tag the compose file names: the compose file runs unchanged.

    python -m tests.e2e.images.build            # build what is missing
    python -m tests.e2e.images.build --force    # rebuild everything
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from components.services import kinds, presets

HERE = Path(__file__).resolve().parent
DEBIAN = "mailstack-test/debian:bookworm"
BASE = "mailstack-test/standin-base:1"
NEXT_LISTMONK = f"{presets.LISTMONK.name}:v5.0.4"
"""A second app tag: the e2e update test deploys it over the pinned one."""

STANDINS: dict[str, tuple[str, ...]] = {
    "caddy": (kinds.CADDY.ref,),
    "postgres": (kinds.POSTGRES.ref,),
    "redis": (kinds.REDIS.ref,),
    "minio": (kinds.MINIO.ref, kinds.MINIO_CLIENT.ref),
    "mailpit": (kinds.MAILPIT.ref,),
    "listmonk": (presets.LISTMONK.ref,),
}


def exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def build(context: str, tags: tuple[str, ...], args: dict[str, str]) -> None:
    cmd = ["docker", "build", "-q", "--label", "org.mailstack.standin=true"]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for tag in tags:
        cmd += ["-t", tag]
    subprocess.run([*cmd, str(HERE / context)], check=True, stdout=subprocess.DEVNULL)


def build_all(force: bool = False) -> list[str]:
    """Build every stand-in that is missing (or all with `force`); return the tags."""
    if not exists(DEBIAN):
        raise RuntimeError(f"{DEBIAN} is missing: run scripts/build-base-image.sh")
    if force or not exists(BASE):
        build("base", (BASE,), {})
    wanted = {**STANDINS, "listmonk-next": (NEXT_LISTMONK,)}
    for name, tags in wanted.items():
        if force or not all(exists(t) for t in tags):
            context = name.removesuffix("-next")
            version = tags[0].rsplit(":", 1)[1]
            build(context, tags, {"BASE": BASE, "VERSION": version})
    return [t for tags in wanted.values() for t in tags]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    tags = build_all(parser.parse_args(argv).force)
    print("\n".join(tags))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
