"""Time image pulls from a registry into an empty engine: one image at a time, and all
at once as the pull step does.

    flock /tmp/docker.lock .venv/bin/python -m bench.pull [--runs 3] [--out F.yaml]

No registry is reachable from build machines, so this serves the stand-in
images of the prod stack from Debian's `docker-registry` on loopback, under
`mailstack-standin/` names, and pulls them into a second, private Docker
engine whose image store starts empty each time (the shared engine keeps its
images: pulling into it would find every layer present). What it measures is
the engine's side of a pull (registry protocol, download over loopback,
decompression, extraction), not a download over the internet, and stand-in
images (Debian-based, sharing one base layer) are not the official ones.
Writes `pulls` (each image alone) and the pull step's figure as a durations
file for `bench.critical_path`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from components.services.caddyfile import TEMPLATES
from components.templates import environment
from tests.conftest import stack_config
from tools.harness import run_program


def prod_images() -> list[str]:
    """The images the prod stack's pull step pulls."""
    config, secret_keys = stack_config("prod")
    run = run_program("prod", config, secret_keys)
    create = run.named("services-pull").inputs["create"]
    return [line.split()[1] for line in create.splitlines() if line.startswith("pull ")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(check: list[str], env: Mapping[str, str] | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while subprocess.run(check, capture_output=True, env=env).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(check)} did not succeed in {seconds:g} s")
        time.sleep(0.5)


@contextmanager
def registry(root: Path) -> Iterator[str]:
    """Debian's registry on a loopback port; yields `127.0.0.1:<port>`."""
    port = _free_port()
    config = root / "registry.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(root / "registry")}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    log = (root / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        _wait(["curl", "-fsS", f"http://127.0.0.1:{port}/v2/"])
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextmanager
def private_engine(root: Path) -> Iterator[dict[str, str]]:
    """A second dockerd with its own (empty) image store; yields the env that reaches it."""
    socket_path = root / "docker.sock"
    (root / "daemon.json").write_text("{}\n")
    log = (root / "dockerd.log").open("w")
    process = subprocess.Popen(
        [
            "dockerd",
            "--config-file",
            str(root / "daemon.json"),
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "--host",
            f"unix://{socket_path}",
            "--bridge",
            "none",
            "--iptables=false",
        ],
        stdout=log,
        stderr=log,
    )
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}"}
    try:
        _wait(["docker", "info"], env=env)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def push(images: list[str], to: str) -> dict[str, str]:
    """Push the shared engine's stand-ins to the registry; their registry names by image."""
    names = {}
    for image in images:
        name = f"{to}/mailstack-standin/{image.rsplit('/', 1)[-1]}"
        subprocess.run(["docker", "tag", image, name], check=True)
        try:
            subprocess.run(["docker", "push", "-q", name], check=True, capture_output=True)
        finally:
            # Only the extra name goes; the image stays for everyone else.
            subprocess.run(["docker", "rmi", name], check=True, capture_output=True)
        names[image] = name
    return names


def _empty(env: Mapping[str, str]) -> None:
    subprocess.run(["docker", "image", "prune", "-af"], env=env, check=True, capture_output=True)
    left = subprocess.run(
        ["docker", "image", "ls", "-q"], env=env, check=True, capture_output=True, text=True
    )
    if left.stdout.strip():
        raise RuntimeError("the private engine still holds images")


def _timed(argv: list[str], env: Mapping[str, str], stdin: str | None = None) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr[-2000:]}")
    return time.monotonic() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("docker-registry") is None:
        print("docker-registry is not installed (scripts/install-tools.sh)", file=sys.stderr)
        return 1
    images = prod_images()
    alone: dict[str, list[float]] = {i: [] for i in images}
    together: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mailstack-pull-") as tmp:
        root = Path(tmp)
        (root / "engine").mkdir()
        with registry(root) as address, private_engine(root / "engine") as env:
            names = push(images, address)
            step = (
                environment(TEMPLATES)
                .get_template("pull.sh.j2")
                .render(project="mailstack-bench", refs=sorted(names.values()))
            )
            for i in range(args.runs):
                for image in images:
                    _empty(env)
                    alone[image].append(_timed(["docker", "pull", "-q", names[image]], env))
                _empty(env)
                together.append(_timed(["sh", "-s"], env, stdin=step))
                print(
                    f"run {i + 1}: pull step {together[-1]:.1f} s; alone "
                    + ", ".join(f"{img} {alone[img][-1]:.1f} s" for img in images)
                )
            _empty(env)
    medians = {i: round(statistics.median(s), 2) for i, s in alone.items()}
    step_median = round(statistics.median(together), 2)
    print(
        f"median of {args.runs}: pull step (all at once) {step_median:.1f} s, "
        f"one image after another {sum(medians.values()):.1f} s "
        f"(ratio {step_median / sum(medians.values()):.2f}); alone: {json.dumps(medians)}"
    )
    if args.out is not None:
        out = {"resources": {"services-pull": step_median}, "pulls": medians}
        args.out.write_text(yaml.safe_dump(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
