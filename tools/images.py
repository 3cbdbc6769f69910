"""`make local`: have every image of the rendered compose file, or say why not.

    python -m tools.images build/local/compose

`docker compose up` would try each missing image in turn and end in one raw
pull error per image. This pulls what is missing first and, when any pull
fails, names each image with Docker's reason and says what to do instead.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.images import STANDIN_NAMESPACE


@dataclass(frozen=True)
class Failure:
    image: str
    reason: str


def compose_images(compose_dir: Path) -> list[str]:
    doc = yaml.safe_load((compose_dir / "compose.yaml").read_text())
    return sorted({s["image"] for s in doc["services"].values()})


def is_standin(image: str) -> bool:
    return image.split("/")[0] == STANDIN_NAMESPACE


def present(image: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return done.returncode == 0


def pull(image: str) -> Failure | None:
    done = subprocess.run(["docker", "pull", "-q", image], capture_output=True, text=True)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return Failure(image, lines[-1] if lines else f"docker pull exited {done.returncode}")


def advice(failures: list[Failure]) -> str:
    width = max(len(f.image) for f in failures)
    listed = "\n".join(f"  {f.image:<{width}}  {f.reason}" for f in failures)
    if any(is_standin(f.image) for f in failures):
        return (
            f"These stand-in images are missing:\n{listed}\n"
            "They are built on this machine, never pulled: run `make local STANDINS=1` "
            "(it builds them) rather than setting imageRegistryMirror to "
            f"{STANDIN_NAMESPACE!r} by hand.\n"
        )
    return (
        f"make local cannot pull {len(failures)} image(s):\n{listed}\n"
        "Docker could not reach their registry (above: Docker's reason for each). Either:\n"
        "  - pull them through a registry mirror you can reach: set it for the local stack\n"
        "      pulumi config set imageRegistryMirror mirror.internal:5000 --stack local\n"
        "    (or add `mailstack:imageRegistryMirror: mirror.internal:5000` to\n"
        "    Pulumi.local.yaml; docs/getting-started.md says which paths it must serve);\n"
        "  - or run the test stand-ins, built here from Debian packages (fakes of the real\n"
        "    apps, for trying the stack offline; never deployed): make local STANDINS=1\n"
    )


def ensure_images(compose_dir: Path) -> list[Failure]:
    """Pull every image the compose file names that is not here; the failures."""
    failures = []
    for image in compose_images(compose_dir):
        if present(image):
            continue
        print(f"    pulling {image}", file=sys.stderr)
        failure = pull(image)
        if failure is not None:
            failures.append(failure)
    return failures


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    failures = ensure_images(Path(argv[0]))
    if failures:
        print(advice(failures), file=sys.stderr, end="")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
