"""A throwaway's teardown after the reaper deleted its server.

The stack's state comes from a mock run of the dev program (every URN, type,
dependency and delete script as `pulumi up` would record them); the fake
`pulumi` refreshes away what the reaper deleted, refuses a `state delete` of a
resource something still depends on, and fails a destroy that would run a
delete script against the address of a server that is gone, as
pulumi-command's dial would.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from mailstack.harness import ROOT, Run
from mailstack.teardown import SERVER_TYPE, orphaned_steps
from tests.fake_tools import FakeTools

SECRETS = {
    "PULUMI_BACKEND_URL": "s3://mailstack-state/mailstack?endpoint=fsn1.example&region=fsn1",
    "PULUMI_CONFIG_PASSPHRASE": "correct horse",
}
# What scripts/reap.py deletes through the Hetzner API (its KINDS), and what
# goes with the server (the volume attachment, the IPs' reverse DNS).
REAPED_TYPES = {
    SERVER_TYPE,
    "hcloud:index/volume:Volume",
    "hcloud:index/volumeAttachment:VolumeAttachment",
    "hcloud:index/primaryIp:PrimaryIp",
    "hcloud:index/rdns:Rdns",
    "hcloud:index/firewall:Firewall",
    "hcloud:index/sshKey:SshKey",
}


def _state(run: Run, stack: str) -> list[dict[str, Any]]:
    """The dev program's resources as `pulumi stack export` lists them for `stack`."""
    urn = run.registrations[0].urn.split("::", 1)[0]
    return [
        {
            "urn": r.urn.replace(urn, f"urn:pulumi:{stack}", 1),
            "type": r.type,
            "dependencies": [d.replace(urn, f"urn:pulumi:{stack}", 1) for d in r.dependencies],
            "inputs": {k: v for k, v in r.inputs.items() if k in ("delete", "create")},
        }
        for r in run.registrations
    ]


@pytest.fixture
def deployed(stack_runs: dict[str, Run]) -> list[dict[str, Any]]:
    return _state(stack_runs["dev"], "pr-12")


def _remote_steps(resources: list[dict[str, Any]]) -> list[str]:
    return [r["urn"] for r in resources if r["type"].startswith("command:remote:")]


def test_no_step_is_orphaned_while_the_server_is_there(deployed: list[dict[str, Any]]) -> None:
    assert orphaned_steps({"deployment": {"resources": deployed}}) == []


def test_without_the_server_every_remote_step_is_orphaned_dependents_first(
    deployed: list[dict[str, Any]],
) -> None:
    left = [r for r in deployed if r["type"] not in REAPED_TYPES]
    orphans = orphaned_steps({"deployment": {"resources": left}})
    assert sorted(orphans) == sorted(_remote_steps(deployed))
    assert any(r["type"] == "command:remote:Command" and "delete" in r["inputs"] for r in left)
    # In this order each one has no dependent left when it goes.
    remaining = {r["urn"]: r for r in left}
    for urn in orphans:
        assert not [r for r in remaining.values() if urn in r["dependencies"]], urn
        del remaining[urn]


def test_an_empty_stack_has_nothing_to_drop() -> None:
    assert orphaned_steps({"version": 3, "deployment": {}}) == []


def _destroy(tools: FakeTools, stack: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "throwaway.sh"), "destroy", stack],
        env=tools.env(**SECRETS),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_destroy_after_the_reaper_drops_the_steps_unrun_and_completes(
    tmp_path: Any, deployed: list[dict[str, Any]]
) -> None:
    tools = FakeTools.create(tmp_path / "fakes")
    reaped = [r["urn"] for r in deployed if r["type"] in REAPED_TYPES]
    tools.update(
        stacks=["dev", "prod", "pr-12"],
        resources={"pr-12": len(deployed)},
        deployments={"pr-12": deployed},
        gone=reaped,
    )
    result = _destroy(tools, "pr-12")
    assert result.returncode == 0, result.stderr
    calls = tools.argvs()
    dropped = [a[-1] for a in calls if a[:2] == ["state", "delete"]]
    assert sorted(dropped) == sorted(_remote_steps(deployed))
    # Dropped before the destroy, which then had no delete script to run.
    destroy_at = next(i for i, a in enumerate(calls) if a[0] == "destroy")
    assert all(calls.index(["state", "delete", "--stack", "pr-12", "--yes", u]) < destroy_at
               for u in dropped)  # fmt: skip
    assert "pr-12" not in tools.state["stacks"]
    assert f"{len(dropped)} steps on it were dropped" in result.stdout


def test_destroy_of_a_live_stack_runs_every_delete_script(
    tmp_path: Any, deployed: list[dict[str, Any]]
) -> None:
    tools = FakeTools.create(tmp_path / "fakes")
    tools.update(stacks=["dev", "prod", "pr-12"], deployments={"pr-12": deployed}, gone=[])
    result = _destroy(tools, "pr-12")
    assert result.returncode == 0, result.stderr
    assert not [a for a in tools.argvs() if a[:2] == ["state", "delete"]]
    assert "dropped" not in result.stdout


def test_the_fake_destroy_fails_on_steps_of_a_server_that_is_gone(
    tmp_path: Any, deployed: list[dict[str, Any]]
) -> None:
    """The fake is what makes the test above mean something: without the
    drop, a destroy after the reaper fails as the real one did."""
    tools = FakeTools.create(tmp_path / "fakes")
    reaped = [r["urn"] for r in deployed if r["type"] in REAPED_TYPES]
    tools.update(stacks=["dev", "prod", "pr-12"], deployments={"pr-12": deployed}, gone=reaped)
    env = tools.env(**SECRETS)
    subprocess.run(
        ["pulumi", "config", "cp", "--stack", "dev", "--dest", "pr-12"],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    result = subprocess.run(
        ["pulumi", "destroy", "--stack", "pr-12", "--yes"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "i/o timeout" in result.stderr
