"""Offline synth: deterministic output, secrets masked, no cloud SDK on the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import synth as synth_module
from tools.harness import ROOT, read_stack_config
from tools.synth import synth


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_synth_prod_twice_is_byte_identical(tmp_path: Path) -> None:
    synth("prod", tmp_path / "one")
    synth("prod", tmp_path / "two")
    first, second = _tree(tmp_path / "one" / "prod"), _tree(tmp_path / "two" / "prod")
    assert first == second
    assert {"resources.json", "outputs.json", "graph.mmd"} <= set(first)


def test_synth_prod_in_two_processes_is_byte_identical(tmp_path: Path) -> None:
    # Separate interpreters with different hash seeds: nothing may depend on
    # set or dict order that varies between runs of `make synth`.
    trees = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run(
            [sys.executable, "-m", "tools.synth", "--stack", "prod", "--out", str(out)],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
        )
        trees.append(_tree(out / "prod"))
    assert trees[0] == trees[1]
    assert "cloud-init/user-data.yaml" in trees[0]


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_synth_writes_no_secret_value(tmp_path: Path, stack: str) -> None:
    run = synth(stack, tmp_path)
    written = b"".join(_tree(tmp_path / stack).values())
    # Secret config keys become placeholders; their placeholder text may show
    # where a secret goes, but resources.json must mask every secret input.
    resources = json.loads((tmp_path / stack / "resources.json").read_text())
    assert "4dabf18193072939515e22adb298388d" not in json.dumps(resources)
    assert len(resources) == len(run.registrations)
    assert b"BEGIN PRIVATE KEY" not in written and b"BEGIN OPENSSH PRIVATE KEY" not in written


def test_resources_json_lists_options_and_parents(tmp_path: Path) -> None:
    synth("prod", tmp_path)
    resources = json.loads((tmp_path / "prod" / "resources.json").read_text())
    for entry in resources:
        assert set(entry) == {"type", "name", "parent", "dependencies", "options", "inputs"}
        assert {"protect", "ignoreChanges", "deleteBeforeReplace", "retainOnDelete"} <= set(
            entry["options"]
        )


PROBE = """
import sys
from pathlib import Path
from tools import synth as synth_module
from tools.synth import synth
import tempfile
synth("local", Path(tempfile.mkdtemp()))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pulumi_cloudflare", "pulumi_hcloud"))
print(",".join(heavy))
"""


def test_local_stack_imports_no_cloud_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_synth_cli_refuses_an_unknown_stack_without_writing(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.synth",
            "--stack",
            "nosuchstack",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in result.stderr
    assert not (tmp_path / "out").exists()


def test_synth_cli_reports_config_errors_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed prod stack file plus one bad value, as `make synth` reads it."""
    committed = read_stack_config

    def with_a_bad_value(
        stack: str, root: Path = ROOT, stack_file: Path | None = None
    ) -> tuple[dict[str, str], set[str]]:
        config, secret_keys = committed(stack, root, stack_file)
        return {**config, "mailstack:volumeSizeGb": "lots"}, secret_keys

    monkeypatch.setattr(synth_module, "read_stack_config", with_a_bad_value)
    code = synth_module.main(["--stack", "prod", "--out", str(tmp_path / "out")])
    assert code == 1
    assert "mailstack:volumeSizeGb:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
