"""Program evaluation per stack under mocks: wall time and peak RSS vs the SDK-import floor.

    .venv/bin/python bench/eval.py [--runs 5] [--stacks local dev prod examples/selfmx.yaml]

A stack is a name (Pulumi.<name>.yaml) or a stack file (e.g. an example).
The `sdks` column names the provider SDKs the program loaded for the stack: a
stack without SES must not list pulumi_aws, one without builds no
pulumi_docker_build, the local stack neither pulumi_docker nor pulumi_hcloud.

Each measurement is a fresh interpreter (as `pulumi up` starts one). The floor
for a stack is a fresh interpreter that only imports the Pulumi SDK packages
the program loaded for that stack (found by a first run), so the ratio shows
what mailstack itself costs on top of its dependencies. Reports medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import sys, tempfile
from pathlib import Path
from tools.harness import read_stack_config, run_program
from tools.synth import with_placeholder_secrets
stack_file = Path({stack_file!r}) if {stack_file!r} else None
config, secret = read_stack_config({stack!r}, stack_file=stack_file)
with_placeholder_secrets(config, secret)
run_program({stack!r}, config, secret)
if {report_modules}:
    print(",".join(sorted({{m.split(".")[0] for m in sys.modules if m.startswith("pulumi")}})))
"""


def measure(code: str) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB, stdout of one fresh interpreter running `code`."""
    # Output goes to files, not pipes: wait4 (for the child's own peak RSS)
    # must not wait on a child blocked writing into a full pipe.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=stdout, stderr=stderr
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed:\n{err}")
    return elapsed, usage.ru_maxrss // 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stacks", nargs="+", default=["local", "dev", "prod"])
    args = parser.parse_args()

    print(
        f"{'stack':20} {'program s':>10} {'floor s':>8} {'ratio':>6} "
        f"{'program MiB':>12} {'floor MiB':>10} {'ratio':>6}  sdks"
    )
    for given in args.stacks:
        stack_file = str(ROOT / given) if given.endswith(".yaml") else ""
        stack = Path(given).stem if stack_file else given

        def program(report: bool, stack: str = stack, stack_file: str = stack_file) -> str:
            return PROGRAM.format(stack=stack, stack_file=stack_file, report_modules=report)

        _, _, modules = measure(program(True))
        floor_code = "".join(f"import {m}\n" for m in modules.split(","))
        prog_t, prog_m, floor_t, floor_m = [], [], [], []
        # Interleave program and floor runs so drift in machine load hits both.
        for _ in range(args.runs):
            t, m, _ = measure(program(False))
            prog_t.append(t)
            prog_m.append(m)
            t, m, _ = measure(floor_code)
            floor_t.append(t)
            floor_m.append(m)
        pt, ft = statistics.median(prog_t), statistics.median(floor_t)
        pm, fm = statistics.median(prog_m), statistics.median(floor_m)
        print(
            f"{stack:20} {pt:10.2f} {ft:8.2f} {pt / ft:6.2f} {pm:12.0f} {fm:10.0f} "
            f"{pm / fm:6.2f}  {modules}"
        )


if __name__ == "__main__":
    main()
