"""Offline synth: write everything `pulumi up` would send into build/<stack>/.

    python -m tools.synth --stack prod [--out build]
    python -m tools.synth --stack-file examples/selfmx.yaml   # -> build/selfmx

Runs the program under the mock engine (no credentials, no Pulumi CLI) and
writes resources.json, outputs.json, graph.mmd (and graph.svg when graphviz is
installed) plus every artifact the components published. Secrets become
placeholders. Same input, byte-identical output.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mailstack.config import PROJECT, ConfigError, key_specs
from tools import graph
from tools.harness import (
    ROOT,
    SECRET_PLACEHOLDER,
    Registration,
    Run,
    close_main_loop,
    mask_secrets,
    read_stack_config,
    run_program,
    secret_placeholder,
)


def with_placeholder_secrets(config: dict[str, str], secret_keys: set[str]) -> None:
    """Give every declared secret key a placeholder so review builds need no secrets.

    Offline synth cannot decrypt the stack's secrets anyway; placeholders make the
    artifacts show where each secret goes without its value.
    """
    for spec in key_specs():
        full = f"{PROJECT}:{spec.alias}"
        # A value the stack file writes in plain text stays unmarked, so the
        # config check refuses it exactly as `pulumi up` would.
        if spec.secret and full not in config:
            config[full] = secret_placeholder(full)
            secret_keys.add(full)


def short(urn: str) -> str:
    """`urn:...::type$child::name` -> `name` (names are unique in this program)."""
    return urn.rsplit("::", 1)[-1] if urn else ""


def resource_entry(reg: Registration) -> dict[str, Any]:
    return {
        "type": reg.type,
        "name": reg.name,
        "parent": short(reg.parent),
        "dependencies": sorted(short(u) for u in reg.dependencies),
        "options": {
            "protect": reg.protect,
            "ignoreChanges": reg.ignore_changes,
            "deleteBeforeReplace": reg.delete_before_replace,
            "retainOnDelete": reg.retain_on_delete,
            "additionalSecretOutputs": reg.additional_secret_outputs,
            "replaceOnChanges": reg.replace_on_changes,
        },
        "inputs": mask_secrets(reg.inputs),
    }


def mermaid(run: Run) -> str:
    """Dependency graph: a cluster per component, transitive edges reduced (tools/graph.py)."""
    return graph.mermaid(graph.build(run.registrations))


def dot(run: Run) -> str:
    return graph.dot(graph.build(run.registrations))


def write_build(run: Run, out: Path) -> list[Path]:
    """Write the synth output for `run` into `out`, replacing what was there."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written: list[Path] = []

    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        written.append(path)

    resources = [resource_entry(r) for r in sorted(run.registrations, key=lambda r: r.urn)]
    write("resources.json", json.dumps(resources, indent=2, sort_keys=True) + "\n")
    outputs = {
        k: SECRET_PLACEHOLDER if k in run.secret_outputs else v
        for k, v in sorted(run.outputs.items())
    }
    write("outputs.json", json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    write("graph.mmd", mermaid(run))
    if shutil.which("dot"):
        svg = subprocess.run(
            ["dot", "-Tsvg"], input=dot(run), capture_output=True, text=True, check=True
        ).stdout
        write("graph.svg", svg)
    for rel, artifact in sorted(run.artifacts.items()):
        write(rel, artifact.text, artifact.mode)
    return written


def synth(
    stack: str,
    out_dir: Path,
    root: Path = ROOT,
    overrides: dict[str, str] | None = None,
    stack_file: Path | None = None,
) -> Run:
    config, secret_keys = read_stack_config(stack, root, stack_file)
    with_placeholder_secrets(config, secret_keys)
    # As `pulumi config set` would (plain text), for this synth only.
    config.update({f"{PROJECT}:{k}": v for k, v in (overrides or {}).items()})
    run = run_program(stack, config, secret_keys, root=root)
    write_build(run, out_dir / stack)
    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.synth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name, e.g. local, dev, prod")
    which.add_argument(
        "--stack-file",
        type=Path,
        help="a stack file elsewhere, e.g. examples/selfmx.yaml (the stack is named after it)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build", help="output folder (default: build/)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for this synth, e.g. imageRegistryMirror=mirror.internal",
    )
    args = parser.parse_args(argv)
    overrides = dict(item.partition("=")[::2] for item in args.set)
    stack_file = args.stack_file or ROOT / f"Pulumi.{args.stack}.yaml"
    args.stack = args.stack or stack_file.stem.removeprefix("Pulumi.")
    if not stack_file.exists():
        print(f"no stack file {stack_file}", file=sys.stderr)
        return 2
    try:
        run = synth(args.stack, args.out, overrides=overrides, stack_file=stack_file)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        close_main_loop()
    print(
        f"synth {args.stack}: {len(run.registrations)} resources, "
        f"{len(run.artifacts)} artifacts -> {args.out / args.stack}, "
        f"EUR {run.outputs['monthlyCostEur']:.2f}/month excl. VAT"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
