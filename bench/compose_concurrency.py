"""Is it safe to run `docker compose up` for different services of one project at once?

    flock /tmp/docker.lock .venv/bin/python -m bench.compose_concurrency [--rounds 10]

Each round starts a fresh project (no containers, networks or volumes) with
four services on the two networks mailstack uses (`edge`, `internal`), runs
one `docker compose up -d --no-deps --wait <service>` per service at the same
time, and reports failed commands and how many networks of each name the
engine holds afterwards (more than one: "network ... is ambiguous" and
services split across networks, moby/moby#20648, docker/compose#10696).
`--prepared` first runs the step that mailstack's deploy scripts run under a
host lock before their concurrent part (`up --no-start`), to show that the
concurrent part is then safe.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.e2e.images.build import DEBIAN

SERVICES = ("a", "b", "c", "d")


def compose_file(project: str) -> str:
    service = {
        "image": DEBIAN,
        "pull_policy": "missing",
        "command": ["sleep", "600"],
        "init": True,
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 30},
    }
    return yaml.safe_dump(
        {
            "name": project,
            "services": {
                name: {**service, "networks": ["edge", "internal"] if i % 2 else ["internal"]}
                for i, name in enumerate(SERVICES)
            },
            "networks": {"edge": {}, "internal": {"internal": True}},
            "volumes": {},
        }
    )


def networks(project: str) -> Counter[str]:
    out = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Name}}", "--filter", f"name={project}_"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return Counter(out)


def clean(base: list[str], project: str) -> None:
    subprocess.run([*base, "down", "-v"], capture_output=True)
    # By id: duplicates cannot be removed by their (ambiguous) name.
    ids = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"name={project}_"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "network", "rm", *ids], capture_output=True)


def one_round(directory: Path, project: str, prepared: bool) -> tuple[int, Counter[str]]:
    path = directory / "compose.yaml"
    path.write_text(compose_file(project))
    base = ["docker", "compose", "-f", str(path)]
    clean(base, project)

    def up(service: str) -> int:
        if prepared:
            # What the deploy script does under the host lock: create this
            # service's networks, volumes and container, without starting it.
            lock = ["flock", str(directory / ".deploy.lock")]
            subprocess.run(
                [*lock, *base, "up", "--no-start", "--no-deps", service],
                capture_output=True,
                check=True,
            )
        done = subprocess.run(
            [*base, "up", "-d", "--no-deps", "--wait", service], capture_output=True, text=True
        )
        if done.returncode:
            print(f"  {service}: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return done.returncode

    try:
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            failed = sum(1 for rc in pool.map(up, SERVICES) if rc)
        return failed, networks(project)
    finally:
        clean(base, project)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--prepared", action="store_true")
    args = parser.parse_args(argv)
    project = "mailstack-bench-concurrency"
    bad_rounds = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            failed, nets = one_round(Path(tmp), project, args.prepared)
            duplicated = {n: c for n, c in nets.items() if c > 1}
            bad_rounds += bool(failed or duplicated)
            print(f"round {i + 1}: {failed} failed commands, networks {dict(sorted(nets.items()))}")
    mode = "create under a lock, then concurrent up" if args.prepared else "concurrent up"
    print(f"{mode}: {bad_rounds} of {args.rounds} rounds failed or duplicated a network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
