"""Time a fresh host's first deploy, step by step, and write the figures for the model.

    flock /tmp/docker.lock .venv/bin/python -m bench.first_deploy [--runs 3] [--out F.yaml]

Each run starts from nothing (no containers, networks or volumes; the
stand-in images already on the engine, as the e2e tests build them) and runs
every step of the `local` stack's listmonk deploy from its resources.json,
twice: once one step at a time (as the chained graph of 83b28d9 ran them) and
once each step as soon as the steps it depends on are done (as the engine runs
the graph now). Prints both wall times and their ratio, and writes the median
seconds of each step (from the runs of the order it is modelled in) as a
durations file for `bench.critical_path`: the service steps' `present`
figures (images on the host) come from here; `absent` and the pull step from
`bench.pull` (a local registry), the boot from stated assumptions.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

from tests.e2e.first_deploy import PREFIX, SUFFIX, StepTime, run_first_deploy
from tests.e2e.images.build import build_all
from tests.e2e.localstack import LocalStack


def _free_ports(n: int) -> list[int]:
    """Loopback ports nothing listens on now (the machine is shared)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def one_run(root: Path, parallel: bool) -> tuple[float, dict[str, StepTime]]:
    http_port, mail_ui_port = _free_ports(2)
    stack = LocalStack(
        root,
        project="mailstack-bench-first-up",
        http_port=http_port,
        mail_ui_port=mail_ui_port,
        settings={},
    )
    stack.down(volumes=True)
    stack.synth()
    secrets = {p.stem: p.read_text() for p in (stack.compose_dir / "env").glob("*.env")}
    steps = root / "steps"
    steps.mkdir()
    for script in (stack.compose_dir / "deploy").iterdir():
        (steps / script.name).write_text(script.read_text())
    resources = root / "build" / "local" / "resources.json"
    # A fresh host: nothing but the scripts (the files step writes the rest).
    for path in sorted(stack.compose_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    try:
        times = run_first_deploy(resources, steps, root, stack.env, secrets, parallel=parallel)
        status, _, _ = stack.get("/")
        if status != 200:
            raise RuntimeError(f"the app does not serve after the first deploy: {status}")
        return max(t.end for t in times.values()), times
    finally:
        stack.down(volumes=True)


def durations(runs: list[dict[str, StepTime]]) -> dict[str, object]:
    """Median seconds per step: the files and pull steps, and each service's step."""
    names = sorted(runs[0])
    median = {n: round(statistics.median(r[n].seconds for r in runs), 2) for n in names}
    services = {
        n.removeprefix(PREFIX).removesuffix(SUFFIX): {"present": s}
        for n, s in median.items()
        if n.endswith(SUFFIX)
    }
    steps = {n: s for n, s in median.items() if not n.endswith(SUFFIX)}
    return {"resources": steps, "services": services}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the parallel runs' step medians here")
    parser.add_argument("--serial-out", type=Path, help="and the serial runs' medians here")
    args = parser.parse_args(argv)
    build_all()
    walls: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[dict[str, StepTime]]] = {False: [], True: []}
    for i in range(args.runs):
        for parallel in (False, True):
            with tempfile.TemporaryDirectory(prefix="mailstack-bench-") as tmp:
                wall, times = one_run(Path(tmp), parallel)
            walls[parallel].append(wall)
            steps[parallel].append(times)
            mode = "side by side" if parallel else "one at a time"
            detail = ", ".join(f"{n} {t.seconds:.1f}" for n, t in sorted(times.items()))
            print(f"run {i + 1} {mode}: {wall:.1f} s ({detail})")
    serial, parallel_ = statistics.median(walls[False]), statistics.median(walls[True])
    print(
        f"median of {args.runs}: one at a time {serial:.1f} s, side by side {parallel_:.1f} s, "
        f"ratio {parallel_ / serial:.2f}"
    )
    for path, parallel in ((args.out, True), (args.serial_out, False)):
        if path is not None:
            path.write_text(yaml.safe_dump(durations(steps[parallel]), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
