"""Run a fresh host's first deploy as `pulumi up` would: every step on the host,
each as soon as the steps it depends on are done (e2e test and bench).

The steps and their dependencies come from the synth's resources.json; the
scripts are the ones the local stack publishes under `deploy/` (the files
step's create variant, the pull step, one script per service with its env
file on stdin). Independent steps run at the same time, as the engine runs
them.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

STEP_TYPES = ("command:local:Command", "command:remote:Command")
PREFIX, SUFFIX = "services-", "-deploy"


@dataclass(frozen=True)
class StepTime:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def host_steps(resources: list[dict[str, object]]) -> dict[str, set[str]]:
    """Each step on the host, with the steps on the host it depends on."""
    steps = {str(r["name"]): r for r in resources if r["type"] in STEP_TYPES}
    return {
        name: {str(d) for d in r["dependencies"] if d in steps}  # type: ignore[attr-defined]
        for name, r in steps.items()
    }


def script_of(step: str) -> str:
    """The published script that runs a step on a fresh host."""
    if step == f"{PREFIX}files":
        return "files-create.sh"
    if step == f"{PREFIX}pull":
        return "pull.sh"
    if step.startswith(PREFIX) and step.endswith(SUFFIX):
        return f"{step.removeprefix(PREFIX).removesuffix(SUFFIX)}.sh"
    raise ValueError(f"no published script runs step {step!r}")


def run_first_deploy(
    resources_json: Path,
    scripts: Path,
    cwd: Path,
    env: Mapping[str, str],
    secrets: Mapping[str, str],
    parallel: bool = True,
) -> dict[str, StepTime]:
    """Run every step in dependency order; their start and end, in seconds from the start.

    `secrets`: each service's env file, by service name (its step's stdin).
    `parallel=False` runs one step at a time (in the same order).
    """
    steps = host_steps(json.loads(resources_json.read_text()))
    times: dict[str, StepTime] = {}
    lock = threading.Lock()
    origin = time.monotonic()

    def run(step: str) -> None:
        script = script_of(step)
        service = script.removesuffix(".sh")
        start = time.monotonic() - origin
        done = subprocess.run(
            ["sh", str(scripts / script)],
            cwd=cwd,
            env=dict(env),
            input=secrets.get(service, ""),
            capture_output=True,
            text=True,
        )
        end = time.monotonic() - origin
        if done.returncode:
            raise RuntimeError(f"{step} ({script}): {done.stderr[-3000:]}")
        with lock:
            times[step] = StepTime(start, end)

    pending = dict(steps)
    running: dict[Future[None], str] = {}
    with ThreadPoolExecutor(max_workers=len(steps) if parallel else 1) as pool:
        while pending or running:
            ready = sorted(n for n, deps in pending.items() if deps <= times.keys())
            for name in ready if parallel or not running else []:
                running[pool.submit(run, name)] = name
                del pending[name]
                if not parallel:
                    break
            if not running:
                raise RuntimeError(f"steps that can never run: {sorted(pending)}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                del running[future]
                future.result()
    return times
