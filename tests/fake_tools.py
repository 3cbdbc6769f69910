"""Fake `pulumi` and `gh` executables for testing the review scripts.

Each fake is a small Python program put first on PATH. It appends one JSON
line per call (argv plus the environment facts that matter) to a log, keeps
just enough state in a JSON file to behave like the real tool (which stacks
exist, stack outputs, existing PR comments), and fails where a test asks it to.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FAKE_PULUMI = r"""
import json, os, sys
args = sys.argv[1:]
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file))
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({
        "tool": "pulumi",
        "argv": args,
        "backend": os.environ.get("PULUMI_BACKEND_URL"),
        "passphrase": bool(os.environ.get("PULUMI_CONFIG_PASSPHRASE")),
        "cwd": os.getcwd(),
    }) + "\n")

def arg(flag):
    return args[args.index(flag) + 1] if flag in args else None

def save():
    json.dump(state, open(state_file, "w"))

if args[:2] == ["stack", "ls"]:
    print(json.dumps([{"name": "organization/mailstack/" + s, "current": False}
                      for s in state["stacks"]]))
elif args[:2] == ["stack", "init"]:
    if args[2] in state["stacks"]:
        sys.exit("error: stack already exists")
    state["stacks"].append(args[2]); save()
elif args[:2] == ["stack", "rm"]:
    state["stacks"].remove(args[-1]); save()
elif args[:2] == ["stack", "output"]:
    print(state["outputs"][args[2]])
elif args and args[0] in ("preview", "up", "destroy"):
    stack = arg("--stack")
    if stack not in state["stacks"]:
        sys.exit(f"error: no stack named {stack!r} found")
    print(f"{args[0]} of {stack}: " + state.get("body", "+ 1 to create"))
    if f"{args[0]}:{stack}" in state.get("fail", []):
        sys.exit(1)
"""

_FAKE_GH = r"""
import json, os, sys
args = sys.argv[1:]
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file))
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({"tool": "gh", "argv": args,
                          "token": bool(os.environ.get("GH_TOKEN"))}) + "\n")
if "--jq" in args:
    marker = args[args.index("--jq") + 1].split('startswith("')[1].split('")')[0]
    for c in state["comments"]:
        if c["body"].startswith(marker):
            print(c["id"])
"""


def _install(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class FakeTools:
    """Fakes on PATH; `calls()` is what the scripts ran, in order."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.jsonl"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @classmethod
    def create(cls, root: Path) -> FakeTools:
        tools = cls(root)
        tools.bin.mkdir(parents=True)
        _install(tools.bin, "pulumi", _FAKE_PULUMI)
        _install(tools.bin, "gh", _FAKE_GH)
        tools.state = {"stacks": ["dev", "prod"], "outputs": {}, "fail": [], "comments": []}
        return tools

    @property
    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.state_file.read_text())
        return result

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(value))

    def update(self, **changes: Any) -> None:
        self.state = {**self.state, **changes}

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: PATH with the fakes first, no inherited Pulumi secrets,
        and PY, the interpreter the scripts run Python with: this one, not ROOT/.venv."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GITHUB_"))}
        keep.pop("HCLOUD_TOKEN", None)
        return {
            **keep,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_LOG": str(self.log),
            "FAKE_STATE": str(self.state_file),
            "PY": sys.executable,
            **extra,
        }

    def calls(self, tool: str = "pulumi") -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if e["tool"] == tool]

    def argvs(self, tool: str = "pulumi") -> list[list[str]]:
        return [c["argv"] for c in self.calls(tool)]
