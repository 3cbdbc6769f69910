"""Fake `pulumi`, `ssh` and `aws` for the operator tools (tools/check.py, tools/day2.py).

One small program answers for every fake: it logs its argv (one JSON line per
call) and answers with the first rule of its tool whose `prefix` starts the
argv: that rule's stdout, stderr and exit status. A call no rule expects
fails loudly, so a test sees every command the tools run. The fake `ssh` also
logs what arrived on its stdin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fake_tools import FakeDir, install

_FAKE = r"""
import json, os, sys
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
state = json.load(open(os.environ["FAKE_OPS_STATE"]))
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["FAKE_OPS_LOG"], "a") as log:
    log.write(json.dumps({"tool": tool, "argv": args, "stdin": stdin}) + "\n")
for rule in state.get(tool, []):
    if args[: len(rule["prefix"])] == rule["prefix"]:
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("rc", 0))
sys.exit(f"fake {tool}: no rule for {args}")
"""

TOOLS = ("pulumi", "ssh", "aws")


class FakeOps(FakeDir):
    @classmethod
    def create(cls, root: Path, tools: tuple[str, ...] = TOOLS) -> FakeOps:
        fakes = cls(root)
        fakes.bin.mkdir(parents=True)
        for tool in tools:
            install(fakes.bin, tool, _FAKE)
        fakes.state_file.write_text("{}")
        return fakes

    def rule(
        self, tool: str, prefix: list[str], stdout: str = "", stderr: str = "", rc: int = 0
    ) -> None:
        state = json.loads(self.state_file.read_text())
        state.setdefault(tool, []).append(
            {"prefix": prefix, "stdout": stdout, "stderr": stderr, "rc": rc}
        )
        self.state_file.write_text(json.dumps(state))

    def env(self, path: str | None = None) -> dict[str, str]:
        """The environment with the fakes first on PATH (or PATH replaced by `path`)."""
        return {
            **os.environ,
            "PATH": path if path is not None else f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_OPS_LOG": str(self.log),
            "FAKE_OPS_STATE": str(self.state_file),
        }

    def calls(self, tool: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if e["tool"] == tool]
