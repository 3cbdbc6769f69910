"""Fake `pulumi` and `gh` executables for testing the review scripts.

Each fake is a small Python program put first on PATH. It appends one JSON
line per call (argv plus the environment facts that matter) to a log, keeps
just enough state in a JSON file to behave like the real tool (which stacks
exist, each stack's config, whether it still has resources, stack outputs,
existing PR comments), and fails where a test asks it to.

The fake `pulumi` checks a stack's config against Pulumi.yaml before every
preview, up and destroy, as the real CLI does: a key without a default must be
set, and a value must have the declared type (an array must be a YAML array,
not a JSON string). A stack's config starts as its Pulumi.<stack>.yaml in the
working directory, if there is one. Commands it does not know fail.
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
import json, os, re, sys
import yaml

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

def fail(message):
    sys.exit(f"error: {message}")

def require_stack(stack):
    if stack not in state["stacks"]:
        fail(f"no stack named {stack!r} found")

def scalar(value):
    # Pulumi keeps every top-level scalar of a stack file as its text.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, (str, list, dict)) else str(value)

def stack_config(stack):
    # A stack's config is its Pulumi.<stack>.yaml beside Pulumi.yaml; a throwaway's
    # is never committed, so on a fresh runner it starts out empty.
    configs = state.setdefault("config", {})
    if stack not in configs:
        path = f"Pulumi.{stack}.yaml"
        doc = (yaml.safe_load(open(path)) if os.path.exists(path) else None) or {}
        configs[stack] = {k: scalar(v) for k, v in (doc.get("config") or {}).items()}
    return configs[stack]

def path_item(text):
    # With --path, "true"/"false" and integers inside a list are typed.
    if text in ("true", "false"):
        return text == "true"
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text

def set_value(config, key, value, path, secret):
    index = re.fullmatch(r"([^\[\].]+)\[([0-9]+)\]", key) if path else None
    if index is None:
        if path and re.search(r"[\[\].]", key):
            fail(f"fake pulumi: unsupported config path {key!r}")
        config[key] = {"secure": value} if secret else value
        return
    name, i = index.group(1), int(index.group(2))
    items = config.setdefault(name, [])
    if not isinstance(items, list):
        fail(f"{name}: an array was expected for index {i}")
    if i > len(items):
        fail(f"{key}: array index out of range")
    items[i:i + 1] = [path_item(value)]

def fits(decl, value):
    # ValidateConfigValue in pulumi/sdk/go/common/workspace/project.go.
    if isinstance(value, dict) and set(value) == {"secure"}:
        value = "<decrypted>"
    kind = decl.get("type")
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]+", value) is not None)
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "array":
        return isinstance(value, list) and all(fits(decl.get("items") or {}, v) for v in value)
    return True

def type_name(decl):
    if decl.get("type") == "array":
        return f"array<{type_name(decl.get('items') or {})}>"
    return decl.get("type")

def validate(stack):
    # What Pulumi checks before every preview, up and destroy: required keys
    # are there and every value has its declared type.
    project = yaml.safe_load(open("Pulumi.yaml"))
    config = stack_config(stack)
    declared = project.get("config") or {}
    missing = sorted(k for k, d in declared.items()
                     if k not in config and not (isinstance(d, dict) and "default" in d))
    if missing:
        values = "values" if len(missing) > 1 else "value"
        fail(f"Stack {stack!r} is missing configuration {values} "
             + ", ".join(repr(k) for k in missing))
    for key, decl in declared.items():
        if key in config and isinstance(decl, dict) and not fits(decl, config[key]):
            fail(f"Stack {stack!r} with configuration key {key!r} "
                 f"must be of type {type_name(decl)!r}")

def deployment(stack):
    # The stack's resources as `stack export` lists them (urn, type,
    # dependencies, inputs), when a test gives them; else none.
    return state.get("deployments", {}).get(stack, [])

def unreachable_deletes(stack):
    # Remote steps with a delete script, on a stack whose server is gone.
    resources = deployment(stack)
    gone = set(state.get("gone", []))
    if any(r["type"] == "hcloud:index/server:Server" and r["urn"] not in gone
           for r in resources):
        return []
    return [r["urn"] for r in resources
            if r["type"].startswith("command:remote:") and "delete" in r.get("inputs", {})]

if args[:2] == ["stack", "ls"]:
    print(json.dumps([{"name": "organization/mailstack/" + s, "current": False}
                      for s in state["stacks"]]))
elif args[:2] == ["stack", "init"]:
    if args[2] in state["stacks"]:
        fail("stack already exists")
    state["stacks"].append(args[2]); save()
elif args[:2] == ["stack", "rm"]:
    stack = args[-1]
    require_stack(stack)
    if state.get("resources", {}).get(stack) and "--force" not in args:
        fail(f"{stack!r} still has resources; removal rejected (--force removes it anyway)")
    state["stacks"].remove(stack)
    state.get("config", {}).pop(stack, None)
    state.get("resources", {}).pop(stack, None)
    save()
elif args[:2] == ["stack", "output"]:
    print(state["outputs"][args[2]])
elif args[:2] == ["config", "cp"]:
    source, dest = arg("--stack"), arg("--dest")
    require_stack(source); require_stack(dest)
    stack_config(dest).update(json.loads(json.dumps(stack_config(source))))
    save()
elif args[:2] == ["config", "rm-all"]:
    stack = arg("--stack")
    require_stack(stack)
    keys = [a for i, a in enumerate(args[2:], 2)
            if not a.startswith("-") and args[i - 1] != "--stack"]
    for key in keys:
        stack_config(stack).pop(key, None)
    save()
elif args[:2] == ["config", "set-all"]:
    stack = arg("--stack")
    require_stack(stack)
    path = "--path" in args
    for i, flag in enumerate(args):
        if flag in ("--plaintext", "--secret"):
            key, _, value = args[i + 1].partition("=")
            set_value(stack_config(stack), key, value, path, flag == "--secret")
    save()
elif args[:1] == ["refresh"]:
    # Drops from the state what was deleted behind Pulumi's back (`gone`); the
    # command provider never looks at the host, so remote steps stay.
    stack = arg("--stack")
    require_stack(stack)
    validate(stack)
    gone = set(state.get("gone", []))
    kept = [r for r in deployment(stack) if r["urn"] not in gone]
    print(f"refresh of {stack}: {len(deployment(stack)) - len(kept)} deleted")
    state.setdefault("deployments", {})[stack] = kept
    save()
elif args[:2] == ["stack", "export"]:
    stack = arg("--stack")
    require_stack(stack)
    print(json.dumps({"version": 3, "deployment": {"resources": deployment(stack)}}))
elif args[:2] == ["state", "delete"]:
    stack, urn = arg("--stack"), args[-1]
    require_stack(stack)
    resources = deployment(stack)
    if urn not in {r["urn"] for r in resources}:
        fail(f"No such resource {urn!r} exists in the current state")
    dependents = [r["urn"] for r in resources if urn in r.get("dependencies", [])]
    if dependents:
        fail(f"{urn} can't be safely deleted because {dependents[0]} depends on it")
    state["deployments"][stack] = [r for r in resources if r["urn"] != urn]
    save()
elif args and args[0] in ("preview", "up", "destroy"):
    stack = arg("--stack")
    require_stack(stack)
    validate(stack)
    print(f"{args[0]} of {stack}: " + state.get("body", "+ 1 to create"))
    if f"{args[0]}:{stack}" in state.get("fail", []):
        sys.exit(1)
    targets = {a for i, a in enumerate(args) if i and args[i - 1] == "--target"}
    if args[0] == "destroy" and targets:
        # --target-dependents: the targets and everything that depends on them.
        if "--target-dependents" not in args:
            fail("fake pulumi: destroy --target without --target-dependents")
        doomed, resources = set(targets), deployment(stack)
        for r in resources:
            if doomed & set(r.get("dependencies", [])):
                doomed.add(r["urn"])
        if any(r["type"].startswith("command:remote:") and "delete" in r.get("inputs", {})
               for r in resources if r["urn"] in doomed):
            fail("dial tcp 203.0.113.7:22: i/o timeout (a delete script, from a runner "
                 "the host does not admit)")
        state["deployments"][stack] = [r for r in resources if r["urn"] not in doomed]
        save()
        sys.exit(0)
    if args[0] == "destroy" and unreachable_deletes(stack):
        # What pulumi-command does with a delete script whose host is gone.
        fail(f"{unreachable_deletes(stack)[0]}: dial tcp 203.0.113.7:22: i/o timeout")
    if args[0] == "destroy":
        state.setdefault("deployments", {})[stack] = []
    if args[0] != "preview":
        state.setdefault("resources", {})[stack] = 12 if args[0] == "up" else 0
        save()
else:
    fail(f"fake pulumi: unsupported command {args}")
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
    # The real jq over the stored comments, as gh applies --jq to each page.
    import subprocess
    result = subprocess.run(["jq", "-r", args[args.index("--jq") + 1]],
                            input=json.dumps(state["comments"]), capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    print(result.stdout, end="")
    sys.exit(result.returncode)
"""


def install(bin_dir: Path, name: str, body: str) -> None:
    """An executable Python fake named `name` in `bin_dir`."""
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class FakeDir:
    """Where fakes live: their bin/ for PATH, the log of their calls and their state."""

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


class FakeTools(FakeDir):
    """Fakes on PATH; `calls()` is what the scripts ran, in order."""

    @classmethod
    def create(cls, root: Path) -> FakeTools:
        tools = cls(root)
        tools.bin.mkdir(parents=True)
        install(tools.bin, "pulumi", _FAKE_PULUMI)
        install(tools.bin, "gh", _FAKE_GH)
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
