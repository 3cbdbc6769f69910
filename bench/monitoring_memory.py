"""Resident memory of each monitoring container after N minutes on the e2e host.

    flock /tmp/docker.lock .venv/bin/python -m bench.monitoring_memory [--minutes 10]

Deploys the local stack with `localMonitoring` and a server's host monitoring
(node_exporter with the backups' textfile gauges), from the stand-ins built
from Debian's packages (`tests/e2e/monitoring_support.py`), at the default
intervals (30 s scrape and evaluation). After `--minutes`, it samples every
container's resident set size (VmRSS of every process in it, from /proc) and
its cgroup's memory use without page cache (what `docker stats` shows) every
10 s for one more minute, and prints each part's median, the total and the
ratio to the goal of 350 MiB. cAdvisor is bullseye's package (0.38.7) with the
server's flags. Grafana has no Debian package and does not run here: its share
is its limit (96 MiB), not a measurement.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.images.build import build_all
from tests.e2e.localstack import LocalStack
from tests.e2e.monitoring_support import (
    MONITORING,
    certificates,
    program,
    standins,
    textfiles,
)

GOAL_MIB = 350
PARTS = (*MONITORING, "node-exporter")
NOT_HERE = {"grafana": 96}
"""Its memory limit in MiB: the most it may take on a server."""


def _pids(container: str) -> list[int]:
    out = subprocess.run(
        ["docker", "top", container, "-eo", "pid"], capture_output=True, text=True, check=True
    ).stdout
    return [int(line) for line in out.split()[1:]]


def rss_mib(container: str) -> float:
    """Sum of VmRSS of the container's processes."""
    total_kb = 0
    for pid in _pids(container):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue  # ended since `docker top` listed it (e.g. a healthcheck's wget)
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def cgroup_mib(container: str) -> float | None:
    """The container's memory use without page cache, as `docker stats` reports it;
    None when the engine reports none (`0B`: it could not read the cgroup)."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{json .}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    usage = json.loads(out)["MemUsage"].split("/")[0].strip()
    # `docker stats` prints `812KiB`, `30.9MiB`, `1.2GiB`, and `0B` without stats.
    match = re.fullmatch(r"([0-9.]+)([KMG]i)?B", usage)
    if match is None:
        raise ValueError(f"{container}: unexpected memory usage {usage!r}")
    if float(match[1]) == 0:
        return None
    value, prefix = float(match[1]), match[2] or ""
    return value * {"": 1 / 1024**2, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0}[prefix]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    build_all()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stack = LocalStack(
            root,
            project="mailstack-bench-monitoring",
            http_port=18880,
            mail_ui_port=18825,
            settings={},
        )
        with standins(certificates(root)):
            stack.down(volumes=True)
            stack.synth(program(textfiles(root), fast=False), localMonitoring=True)
        try:
            stack.up()
            time.sleep(args.minutes * 60)
            containers = {p: stack.containers(p)[0]["Id"] for p in PARTS}
            rss: dict[str, list[float]] = {p: [] for p in PARTS}
            cgroup: dict[str, list[float]] = {p: [] for p in PARTS}
            for _ in range(6):
                for part, cid in containers.items():
                    rss[part].append(rss_mib(cid))
                    if (mib := cgroup_mib(cid)) is not None:
                        cgroup[part].append(mib)
                time.sleep(10)
        finally:
            stack.down(volumes=True)
    print(f"after {args.minutes:g} min, median of 6 samples over 1 min (MiB):")
    print(f"{'part':<16}{'RSS':>8}{'cgroup':>9}")
    for part in PARTS:
        used = f"{statistics.median(cgroup[part]):.1f}" if cgroup[part] else "n/a"
        print(f"{part:<16}{statistics.median(rss[part]):>8.1f}{used:>9}")
    measured = sum(statistics.median(rss[p]) for p in MONITORING)
    print(f"{'+'.join(MONITORING)} RSS {measured:.1f}")
    with_limits = measured + sum(NOT_HERE.values())
    print(
        f"with {'+'.join(NOT_HERE)} at its limit ({sum(NOT_HERE.values())}): {with_limits:.1f} "
        f"= {with_limits / GOAL_MIB:.2f} of the {GOAL_MIB} MiB goal"
    )


if __name__ == "__main__":
    main()
