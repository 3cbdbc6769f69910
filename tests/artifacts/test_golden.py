"""A fresh synth of every stack equals its committed goldens (`make golden` updates them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tools.synth
from tests.artifacts import golden
from tests.conftest import STACKS
from tools import harness
from tools.harness import ResolvedArtifact, Run


@pytest.mark.parametrize("stack", STACKS)
def test_synth_matches_the_goldens(stack: str, tmp_path: Path) -> None:
    problems = golden.check(stack, golden.GOLDEN, tmp_path)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_goldens_hold_the_build_files_without_the_svg() -> None:
    for stack in STACKS:
        files = set(golden.committed(stack))
        assert {"resources.json", "outputs.json", "graph.mmd", golden.MODES} <= files
        assert "graph.svg" not in files


@pytest.fixture
def goldens(tmp_path: Path) -> Path:
    """A private copy of the committed goldens, so the real ones are never touched."""
    root = tmp_path / "golden"
    shutil.copytree(golden.GOLDEN / "local", root / "local")
    return root


def test_a_renderer_change_fails_until_the_goldens_are_updated(
    goldens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert golden.check("local", goldens, tmp_path / "before") == ""

    original = tools.synth.mermaid
    monkeypatch.setattr(
        tools.synth, "mermaid", lambda run: original(run) + "  %% renderer changed\n"
    )
    problems = golden.check("local", goldens, tmp_path / "changed")
    assert "synth output of stack 'local' differs from tests/golden/local/" in problems
    assert "run `make golden`" in problems
    assert "--- golden/local/graph.mmd" in problems
    assert "+  %% renderer changed" in problems

    assert golden.update(["local"], goldens, tmp_path / "update") == ["local"]
    assert golden.check("local", goldens, tmp_path / "after") == ""
    assert golden.update(["local"], goldens, tmp_path / "again") == []


def test_a_new_artifact_and_its_mode_show_in_the_diff(
    goldens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = harness.run_program

    def with_secret_file(*args: object, **kwargs: object) -> Run:
        run = original(*args, **kwargs)  # type: ignore[arg-type]  # passed through as given
        run.artifacts["compose/app.env"] = ResolvedArtifact("TOKEN=<secret>\n", 0o600, True)
        return run

    monkeypatch.setattr(tools.synth, "run_program", with_secret_file)
    problems = golden.check("local", goldens, tmp_path / "new")
    assert "--- /dev/null\n+++ synth/local/compose/app.env" in problems
    assert "+0600 compose/app.env" in problems

    golden.update(["local"], goldens, tmp_path / "update")
    assert (goldens / "local" / "compose" / "app.env").read_text() == "TOKEN=<secret>\n"
    assert golden.check("local", goldens, tmp_path / "after") == ""
