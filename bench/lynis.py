"""Lynis and ssh-audit on the mailstack host and on a stock Debian 12 host, side by side.

    flock /tmp/docker.lock .venv/bin/python -m bench.lynis [--runs 1]

Both hosts are containers of the same Debian 12 base image booted with systemd
the same way: the mailstack host is the hardening e2e host (the dev stack's
user data through cloud-init, then the access step over SSH, see
tests/e2e/test_cloudinit_hardening.py); the stock host only adds
openssh-server to the base image. On each, Debian's lynis (copied in from
this machine, the same files for both) runs `audit system`, and ssh-audit
runs from this machine against its sshd: the plain audit (its fail and warn
notes counted) and the OS's hardened policy.

Lynis scores a container, not a VM: what a container cannot show (the
kernel's sysctl values are the build machine's and read-only, no boot loader
or kernel image, no separate partitions, no auditd) is lost for both hosts
alike and stays in the figures. Prints the median of each figure over the
runs (lynis is deterministic on one host; the runs show that it is).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.test_cloudinit_hardening import (
    booted_host,
    build_image,
    run_systemd_container,
)

STOCK_IMAGE = "mailstack-bench/stock-openssh:1"
STOCK_DOCKERFILE = """\
FROM mailstack-test/debian:bookworm
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
      systemd systemd-sysv dbus openssh-server \\
 && rm -rf /var/lib/apt/lists/*
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
"""
SSH_POLICY = "Hardened Debian 12 (version 3)"
LYNIS_FILES = ("/usr/sbin/lynis", "/usr/share/lynis", "/etc/lynis")
REPORT = "/var/log/mailstack-bench-lynis.dat"


@dataclass(frozen=True)
class Figures:
    hardening_index: int
    suggestions: int
    warnings: int
    ssh_fail: int
    ssh_warn: int
    policy_passed: bool


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=900)


def _ssh_audit(*argv: str) -> subprocess.CompletedProcess[str]:
    return _run(str(Path(sys.executable).parent / "ssh-audit"), "-n", *argv, check=False)


def lynis(container: str) -> tuple[int, int, int, list[str]]:
    """Hardening index, suggestion and warning counts, and the suggestions' test ids."""
    for path in LYNIS_FILES:
        _run("docker", "exec", container, "mkdir", "-p", str(Path(path).parent))
        _run("docker", "cp", path, f"{container}:{path}")
    _run(
        "docker", "exec", container, "lynis", "audit", "system", "--quick", "--no-colors",
        "--report-file", REPORT, "--log-file", "/dev/null",
    )  # fmt: skip
    report = _run("docker", "exec", container, "cat", REPORT).stdout.splitlines()
    (index,) = (
        int(line.split("=", 1)[1]) for line in report if line.startswith("hardening_index=")
    )
    suggestions = [line.split("=", 1)[1] for line in report if line.startswith("suggestion[]=")]
    warnings = [line for line in report if line.startswith("warning[]=")]
    return index, len(suggestions), len(warnings), suggestions


def ssh_audit(ip: str) -> tuple[int, int, bool]:
    """ssh-audit's fail and warn notes, and whether the hardened policy passed."""
    plain = _ssh_audit(ip).stdout
    fails = len(re.findall(r"\[fail\]", plain))
    warns = len(re.findall(r"\[warn\]", plain))
    policy = _ssh_audit("-P", SSH_POLICY, ip)
    return fails, warns, policy.returncode == 0


def measure(container: str, ip: str) -> tuple[Figures, list[str]]:
    index, suggestions, warnings, ids = lynis(container)
    fails, warns, passed = ssh_audit(ip)
    return Figures(index, suggestions, warnings, fails, warns, passed), ids


@contextmanager
def stock_host() -> Iterator[tuple[str, str]]:
    """A booted stock Debian 12 + openssh-server container: (name, address)."""
    if _run("docker", "image", "inspect", STOCK_IMAGE, check=False).returncode != 0:
        subprocess.run(
            ["docker", "build", "-q", "-t", STOCK_IMAGE, "-"],
            input=STOCK_DOCKERFILE, text=True, check=True, capture_output=True,
        )  # fmt: skip
    name = f"mailstack-bench-stock-{os.getpid()}"
    _run("docker", "network", "create", name)
    try:
        run_systemd_container(name, STOCK_IMAGE)
        try:
            _run("docker", "exec", name, "systemctl", "is-system-running", "--wait", check=False)
            ip = _run(
                "docker", "inspect", name, "-f",
                f'{{{{(index .NetworkSettings.Networks "{name}").IPAddress}}}}',
            ).stdout.strip()  # fmt: skip
            yield name, ip
        finally:
            _run("docker", "rm", "-f", name, check=False)
    finally:
        _run("docker", "network", "rm", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--suggestions", action="store_true", help="list lynis's suggestions")
    args = parser.parse_args()
    build_image()
    results: dict[str, list[Figures]] = {"stock": [], "mailstack": []}
    ids: dict[str, list[str]] = {}
    for run in range(1, args.runs + 1):
        print(f"run {run}/{args.runs}", flush=True)
        with stock_host() as (name, ip):
            figures, ids["stock"] = measure(name, ip)
            results["stock"].append(figures)
        tmp = Path(tempfile.mkdtemp(prefix="mailstack-bench-lynis-"))
        try:
            with booted_host(tmp) as host:
                figures, ids["mailstack"] = measure(host.container, host.ip)
                results["mailstack"].append(figures)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmedian of {args.runs} run(s); ssh-audit policy: {SSH_POLICY}")
    print(f"  {'':<28}{'stock Debian 12':>18}{'mailstack':>12}")
    for field, label in (
        ("hardening_index", "lynis hardening index"),
        ("suggestions", "lynis suggestions"),
        ("warnings", "lynis warnings"),
        ("ssh_fail", "ssh-audit fail notes"),
        ("ssh_warn", "ssh-audit warn notes"),
    ):
        values = [statistics.median(getattr(f, field) for f in results[k]) for k in results]
        print(f"  {label:<28}{values[0]:>18g}{values[1]:>12g}")
    passed = [all(f.policy_passed for f in results[k]) for k in results]
    print(f"  {'ssh-audit policy passed':<28}{passed[0]!s:>18}{passed[1]!s:>12}")
    if args.suggestions:
        for key, found in ids.items():
            print(f"\n{key} suggestions:")
            for line in found:
                print(f"  {line}")


if __name__ == "__main__":
    main()
