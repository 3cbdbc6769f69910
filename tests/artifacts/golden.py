"""Golden synth output: the committed `build/<stack>/` of every stack, for review diffs.

    python -m tests.artifacts.golden          # make golden: rewrite every golden

`tests/golden/<stack>/` holds what `make synth STACK=<stack>` writes, minus
graph.svg (graphviz versions lay it out differently), plus `modes.txt`, the
file modes git does not keep (a secret file turning world-readable is a change
a reviewer must see). Any change to rendered infrastructure therefore shows up
in a pull request as a diff of these files. A file synth copies unchanged
from assets/ (the backup scripts) is kept as `<file>.sha256`, its hash and
source, not as a second copy: its own diff is the asset's.
`tests/golden/cloud-init/<variant>.yaml` holds the user data of each server
image and option the schema tests check.
"""

from __future__ import annotations

import difflib
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import STACKS, stack_config
from tools.harness import ROOT, run_program
from tools.synth import synth

GOLDEN = ROOT / "tests" / "golden"
ASSETS = ROOT / "assets"
EXCLUDED = frozenset({"graph.svg"})
MODES = "modes.txt"
MAX_DIFF_LINES = 400
USER_DATA = "cloud-init/user-data.yaml"
CLOUD_INIT_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    f"{stack}-{image}": (stack, {"serverImage": image})
    for stack in ("dev", "prod")
    for image in ("ubuntu-24.04", "debian-12", "debian-13")
}
CLOUD_INIT_VARIANTS["dev-ubuntu-24.04-tailscale"] = ("dev", {"tailscale": True})


def _static_assets() -> dict[str, str]:
    """Text -> path of every file under assets/ that synth may copy as it is."""
    return {
        p.read_text(): p.relative_to(ROOT).as_posix()
        for p in sorted(ASSETS.rglob("*"))
        if p.is_file() and p.suffix != ".j2"
    }


def _digest_line(text: str, source: str) -> str:
    return f"{hashlib.sha256(text.encode()).hexdigest()}  {source}\n"


def fresh(stack: str, work: Path) -> dict[str, str]:
    """Synth `stack` into `work` and return its golden files (relative path -> text)."""
    synth(stack, work)
    out = work / stack
    files: dict[str, str] = {}
    modes = []
    static = _static_assets()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel in EXCLUDED:
            continue
        text = path.read_text()
        if text in static:
            files[f"{rel}.sha256"] = _digest_line(text, static[text])
        else:
            files[rel] = text
        modes.append(f"{path.stat().st_mode & 0o7777:04o} {rel}")
    files[MODES] = "\n".join(modes) + "\n"
    return files


def committed(stack: str, golden_root: Path = GOLDEN) -> dict[str, str]:
    base = golden_root / stack
    if not base.is_dir():
        return {}
    return {
        p.relative_to(base).as_posix(): p.read_text()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def diff(stack: str, expected: dict[str, str], actual: dict[str, str]) -> str:
    """A readable account of how `actual` differs from the goldens; empty if equal."""
    lines: list[str] = []
    for rel in sorted(expected.keys() | actual.keys()):
        before, after = expected.get(rel), actual.get(rel)
        if before == after:
            continue
        lines.extend(
            difflib.unified_diff(
                (before or "").splitlines(),
                (after or "").splitlines(),
                f"golden/{stack}/{rel}" if before is not None else "/dev/null",
                f"synth/{stack}/{rel}" if after is not None else "/dev/null",
                lineterm="",
            )
        )
    if not lines:
        return ""
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return (
        f"synth output of stack {stack!r} differs from tests/golden/{stack}/.\n"
        "If the change is intended, run `make golden` and commit the updated goldens.\n\n"
        + "\n".join(lines)
    )


def check(stack: str, golden_root: Path, work: Path) -> str:
    return diff(stack, committed(stack, golden_root), fresh(stack, work))


def update(stacks: Iterable[str], golden_root: Path, work: Path) -> list[str]:
    """Rewrite the goldens of `stacks`; the stacks whose goldens changed."""
    changed = []
    for stack in stacks:
        files = fresh(stack, work)
        if files == committed(stack, golden_root):
            continue
        target = golden_root / stack
        if target.exists():
            shutil.rmtree(target)
        for rel, text in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        changed.append(stack)
    return changed


def user_data(variant: str) -> str:
    """The rendered user data of one cloud-init variant."""
    stack, changes = CLOUD_INIT_VARIANTS[variant]
    config, secret_keys = stack_config(stack, set=changes)
    return run_program(stack, config, secret_keys).artifacts[USER_DATA].text


def update_cloud_init(golden_root: Path = GOLDEN) -> list[str]:
    """Rewrite the cloud-init variants' goldens; the variants that changed."""
    changed = []
    for variant in sorted(CLOUD_INIT_VARIANTS):
        path = golden_root / "cloud-init" / f"{variant}.yaml"
        text = user_data(variant)
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        changed.append(variant)
    return changed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mailstack-golden-") as work:
        changed = update(STACKS, GOLDEN, Path(work))
    changed += [f"cloud-init/{v}" for v in update_cloud_init()]
    print(f"goldens updated: {', '.join(changed)}" if changed else "goldens already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
