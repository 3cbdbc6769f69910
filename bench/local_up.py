"""Benchmark the local stack: `up` to all-healthy, and failed requests during an app update.

    .venv/bin/python -m bench.local_up [--runs 5]

Each run starts from nothing (no containers, no volumes): synth the local
stack (Redis and object storage on, stand-in images as in e2e), time
`docker compose up -d --wait`, then deploy a new app image tag through the
deploy path while a bounded GET loop on loopback counts failed requests
through the proxy. Prints one line per run and the medians. listmonk's app
is recreated (stopped, then started: never two on one database), so the
failed requests count what the proxy's retries did not hold.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.images.build import NEXT_LISTMONK, build_all
from tests.e2e.localstack import LocalStack, requests_during


def one_run(root: Path) -> tuple[float, float, int, int, float]:
    stack = LocalStack(
        root, project="mailstack-bench-services", http_port=18580, mail_ui_port=18525
    )
    stack.down(volumes=True)
    try:
        stack.synth()
        up_seconds = stack.up()
        stack.synth(appImage=NEXT_LISTMONK)
        start = time.monotonic()
        load = requests_during(stack, lambda: stack.deploy("app"))
        return up_seconds, time.monotonic() - start, load.failures, load.requests, load.slowest
    finally:
        stack.down(volumes=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    build_all()
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="mailstack-bench-") as tmp:
            up, update, failures, requests, slowest = one_run(Path(tmp))
        results.append((up, update, failures, requests, slowest))
        print(
            f"run {i + 1}: up->healthy {up:.1f}s, app update {update:.1f}s, "
            f"{failures} failed of {requests} requests, slowest {slowest:.2f}s"
        )
    print(
        f"median of {args.runs}: up->healthy {statistics.median(r[0] for r in results):.1f}s, "
        f"app update {statistics.median(r[1] for r in results):.1f}s, "
        f"failed requests {statistics.median(r[2] for r in results):g} "
        f"(max {max(r[2] for r in results)}, {sum(r[3] for r in results)} requests in all), "
        f"slowest request {statistics.median(r[4] for r in results):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
