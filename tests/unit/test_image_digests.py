"""Every image a server runs is pinned by the digest its tag had at preview."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.conftest import stack_config
from tests.services_cases import PRESET_SETTINGS, settings
from tests.unit.test_services import deploy_steps
from tools import fakes
from tools.harness import ROOT, Run, run_program


def _run(stack: str, **edits: Any) -> Run:
    config, secret_keys = stack_config(stack, **edits)
    return run_program(stack, config, secret_keys)


def _images(run: Run) -> dict[str, str]:
    doc = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    return {name: s["image"] for name, s in doc["services"].items()}


@pytest.mark.parametrize("preset", sorted(PRESET_SETTINGS))
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_server_image_is_pinned_by_the_resolved_digest(stack: str, preset: str) -> None:
    images = _images(_run(stack, set=settings(preset)))
    for service, image in images.items():
        ref, sep, digest = image.partition("@")
        assert sep, f"{service}: {image} is not pinned"
        assert digest == fakes.fake_digest(ref), service


def test_a_moved_tag_changes_the_compose_file_and_redeploys_its_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    edits = {"set": {"redis": True, "app": "mailwizz"}}
    unmoved = _run("dev", **edits)
    moved = "redis:7.4.2"
    new_digest = "sha256:" + "0" * 64

    def registry(args: dict[str, Any]) -> dict[str, Any]:
        name = args["name"]
        return {
            "name": name,
            "sha256Digest": new_digest if name == moved else fakes.fake_digest(name),
        }

    monkeypatch.setitem(fakes.CALLS, "docker:index/getRegistryImage:getRegistryImage", registry)
    after = _run("dev", **edits)
    assert _images(unmoved)["redis"] == f"{moved}@{fakes.fake_digest(moved)}"
    assert _images(after)["redis"] == f"{moved}@{new_digest}"
    before_steps, after_steps = deploy_steps(unmoved), deploy_steps(after)
    changed = {
        name
        for name, step in after_steps.items()
        if step.inputs["triggers"] != before_steps[name].inputs["triggers"]
    }
    assert changed == {"redis"}


def test_the_local_stack_pins_nothing_and_never_loads_pulumi_docker() -> None:
    code = (
        "import sys\n"
        "from tools.harness import read_stack_config, run_program\n"
        "from tools.synth import with_placeholder_secrets\n"
        "config, secret = read_stack_config('local')\n"
        "with_placeholder_secrets(config, secret)\n"
        "run = run_program('local', config, secret)\n"
        "assert 'pulumi_docker' not in sys.modules, 'pulumi_docker loaded'\n"
        "print(run.artifacts['compose/compose.yaml'].text)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    images = [s["image"] for s in yaml.safe_load(done.stdout)["services"].values()]
    assert images and not any("@" in image for image in images)
