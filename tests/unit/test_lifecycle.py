"""Past the first run: a second `up` changes nothing; a replaced server gets every step.

The engine passes a replacement on through inputs (property dependencies and
triggers), never through `depends_on`. So each remote step must change when
the server is replaced, or the new server would come up empty while `pulumi
up` reports success; and nothing may change between two runs of the same
config and code, or `pulumi preview --expect-no-changes` could never be used
to detect drift.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import stack_config
from tools.harness import MailstackMocks, RecordingMonitor, Registration, Run, run_program

SERVER = "hcloud:index/server:Server"
REMOTE = "command:remote:Command"


class ReplacedServerMocks(MailstackMocks):
    """The provider answers with another id for the server, as after a replacement."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        rid, outputs = super().new_resource(args)
        if args.typ == SERVER:
            rid = str(int(rid) + 1)
        return rid, outputs


def _run(stack: str, mocks: MailstackMocks | None = None) -> Run:
    config, secret_keys = stack_config(stack)
    monitor = RecordingMonitor(mocks or MailstackMocks())
    return run_program(stack, config, secret_keys, monitor=monitor)


def _by_name(run: Run) -> dict[str, Registration]:
    return {r.name: r for r in run.registrations}


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_a_second_run_with_nothing_changed_gives_identical_inputs(stack: str) -> None:
    first, second = _by_name(_run(stack)), _by_name(_run(stack))
    assert first.keys() == second.keys()
    changed = [
        name
        for name in first
        if (first[name].inputs, first[name].dependencies, first[name].urn)
        != (second[name].inputs, second[name].dependencies, second[name].urn)
    ]
    assert not changed, f"differ between two identical runs: {changed}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_replaced_server_changes_every_remote_step_and_nothing_else(stack: str) -> None:
    before, after = _by_name(_run(stack)), _by_name(_run(stack, ReplacedServerMocks()))
    assert before.keys() == after.keys()
    steps = [name for name, reg in before.items() if reg.type == REMOTE]
    assert len(steps) > 20
    # Every step on the host gets a new trigger, so the engine runs it again.
    same = [n for n in steps if before[n].inputs.get("triggers") == after[n].inputs.get("triggers")]
    assert not same, f"steps the engine would not re-run on a new server: {same}"
    # The new server id reaches each step as a property dependency, not only an ordering.
    server = after["server-server"].urn
    for name in steps:
        assert server in after[name].property_dependencies.get("triggers", []), name
    # What outlives a server does not change: addresses, volume, DNS, keys, firewall.
    kept = [
        name
        for name, reg in before.items()
        if reg.type != REMOTE and reg.type != SERVER and reg.custom
    ]
    assert kept
    moved = [n for n in kept if before[n].inputs != after[n].inputs]
    assert moved == ["server-data-attachment"], moved


def _ancestors(run: Run, name: str) -> set[str]:
    by_urn, regs = run.by_urn(), _by_name(run)
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in regs[todo.pop()].dependencies:
            dep_name = by_urn[dep].name
            if dep_name not in seen:
                seen.add(dep_name)
                todo.append(dep_name)
    return seen


def test_the_volume_is_attached_and_mounted_before_any_service_or_backup_step() -> None:
    run = _run("prod")
    # The cloud-init wait checks the data volume is mounted (wait.sh), and it
    # waits for the attachment; every step on the host waits for it.
    assert "server-data-attachment" in _ancestors(run, "server-cloud-init")
    # The files and pull steps start nothing (they write compose files and
    # fetch images), so they run beside the access step; everything else runs
    # after it.
    starts_nothing = ("services-files", "services-pull")
    for reg in run.of_type(REMOTE):
        if reg.name not in ("server-cloud-init", "server-access"):
            assert "server-cloud-init" in _ancestors(run, reg.name), reg.name
            if reg.name not in starts_nothing:
                assert "server-access" in _ancestors(run, reg.name), reg.name


def test_a_replaced_server_lets_go_of_its_ips_and_volume_first() -> None:
    # Hetzner lets one server hold a primary IP or a volume: a new server
    # created before the old one is deleted could take neither.
    run = _run("prod")
    for name in ("server-server", "server-data-attachment"):
        assert run.named(name).delete_before_replace, name
