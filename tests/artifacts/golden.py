"""Golden synth output: the committed `build/<stack>/` of every stack, for review diffs.

    python -m tests.artifacts.golden          # make golden: rewrite tests/golden/
    UPDATE_GOLDEN=1 pytest tests/artifacts/test_golden.py   # the same, from pytest

`tests/golden/<stack>/` holds what `make synth STACK=<stack>` writes, minus
graph.svg (graphviz versions lay it out differently), plus `modes.txt`, the
file modes git does not keep (a secret file turning world-readable is a change
a reviewer must see). Any change to rendered infrastructure therefore shows up
in a pull request as a diff of these files.
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import STACKS
from tools.harness import ROOT
from tools.synth import synth

GOLDEN = ROOT / "tests" / "golden"
EXCLUDED = frozenset({"graph.svg"})
MODES = "modes.txt"
MAX_DIFF_LINES = 400


def fresh(stack: str, work: Path) -> dict[str, str]:
    """Synth `stack` into `work` and return its golden files (relative path -> text)."""
    synth(stack, work)
    out = work / stack
    files: dict[str, str] = {}
    modes = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel in EXCLUDED:
            continue
        files[rel] = path.read_text()
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


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mailstack-golden-") as work:
        changed = update(STACKS, GOLDEN, Path(work))
    print(f"goldens updated: {', '.join(changed)}" if changed else "goldens already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
