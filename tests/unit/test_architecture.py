"""The code's shape holds: one-way layers, no cycles, small modules, simple functions.

`make lint` runs the import contract (pyproject.toml `[tool.importlinter]`);
these tests show it passes on the tree, that it fails when a lower layer
reaches up, and keep modules and functions within the sizes the team set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from radon.complexity import cc_visit

from tools.harness import ROOT

PACKAGES = ("common", "components", "mailstack", "tools", "policy")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_LINES = 500
MAX_COMPLEXITY = 15


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'policy'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _copy_tree(target: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_import_contract_holds() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # The bottom layer reaching up into a component.
        ("common/layout.py", "import components.host", "Layers: tooling"),
        # A component reading the config model instead of its Args.
        ("components/firewall.py", "import mailstack.config", "Layers: tooling"),
        # The program loading the tooling (the reaper, the mock harness).
        ("mailstack/wiring.py", "import tools.harness", "Layers: tooling"),
        # Two sibling components importing each other.
        ("components/host.py", "import components.server", "No import cycle"),
    ],
)
def test_a_deliberate_violation_breaks_the_contract(
    module: str, line: str, contract: str, tmp_path: Path
) -> None:
    root = _copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # deliberate violation\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout


def _sources() -> list[Path]:
    return sorted(
        p
        for name in ("common", "components", "mailstack")
        for p in (ROOT / name).rglob("*.py")
        if "__pycache__" not in p.parts
    )


def test_no_program_module_is_over_the_size_limit() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_no_function_is_too_complex() -> None:
    """radon's cyclomatic complexity, the measure `radon cc` prints."""
    complex_ = {
        f"{p.relative_to(ROOT)}:{block.lineno} {block.fullname}": block.complexity
        for p in _sources()
        for block in cc_visit(p.read_text())
        if block.complexity > MAX_COMPLEXITY
    }
    assert not complex_, f"functions over complexity {MAX_COMPLEXITY}: {complex_}"
