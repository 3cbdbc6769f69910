"""The mock harness records what the stock mocks drop, and runs stay isolated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pulumi
import pulumi_random as random

from common import artifacts
from tools.harness import ROOT, Run, mask_secrets, run_program


class Pair(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mailstack:test:Pair", name, None, opts)
        first = random.RandomPet(
            f"{name}-first",
            opts=pulumi.ResourceOptions(parent=self, protect=True, ignore_changes=["length"]),
        )
        second = random.RandomPassword(
            f"{name}-second",
            length=24,
            keepers={"first": first.id},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[first], delete_before_replace=True, retain_on_delete=True
            ),
        )
        artifacts.publish("pair.txt", pulumi.Output.concat("first=", first.id, "\n"))
        pulumi.export("secretThing", pulumi.Output.secret("hunter2"))
        pulumi.export("plainThing", second.length)
        self.register_outputs({})


def test_monitor_records_parent_options_and_dependencies(
    run_component: Callable[..., Run],
) -> None:
    run = run_component(lambda: Pair("pair"))
    component = run.named("pair")
    first, second = run.named("pair-first"), run.named("pair-second")
    assert component.type == "mailstack:test:Pair"
    assert first.parent == component.urn and second.parent == component.urn
    assert first.protect and first.ignore_changes == ["length"]
    assert not second.protect
    assert first.urn in second.dependencies
    assert second.delete_before_replace and second.retain_on_delete
    assert second.inputs["length"] == 24


def test_outputs_and_artifacts_resolve_and_keep_secrecy(
    run_component: Callable[..., Run],
) -> None:
    run = run_component(lambda: Pair("pair"))
    assert run.outputs["secretThing"] == "hunter2"
    assert run.secret_outputs == {"secretThing"}
    assert run.artifacts["pair.txt"].text == "first=pair-first-id\n"


def test_runs_are_isolated(run_component: Callable[..., Run]) -> None:
    run_component(lambda: Pair("one"))
    run = run_component(lambda: Pair("two"))
    assert {r.name for r in run.registrations} == {"two", "two-first", "two-second"}
    assert set(run.artifacts) == {"pair.txt"}


def test_mask_secrets_replaces_wire_secrets_at_any_depth() -> None:
    wire = {
        "a": {
            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
            "value": "s3cret",
        },
        "b": [{"c": "plain"}],
    }
    assert mask_secrets(wire) == {"a": "[secret]", "b": [{"c": "plain"}]}


def test_a_run_leaves_no_event_loop_open_but_the_main_thread_s() -> None:
    """Loops left to the garbage collector can be finalised after their sockets
    at exit: "Exception ignored ... ValueError: Invalid file descriptor: -1".
    The main thread's loop stays for the next run (a CLI closes it itself)."""
    import asyncio
    import gc

    from tests.conftest import stack_config

    config, secrets = stack_config("dev")
    run_program("dev", config, secrets)
    gc.collect()
    open_loops = [
        o
        for o in gc.get_objects()
        if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()
    ]
    assert open_loops == [asyncio.get_event_loop()]


def test_synth_exits_without_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tools.synth", "--stack", "prod", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
