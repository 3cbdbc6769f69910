"""A throwaway's teardown and a CI runner's redeploy, against a fake `pulumi`
whose state is what `pulumi up` of the dev program records.

The stack's state comes from a mock run of the dev program (every URN, type,
dependency and delete script); the fake `pulumi` refreshes away what the
reaper deleted, refuses a `state delete` of a resource something still
depends on, and fails a destroy that would run a delete script against a host
that is gone or that does not admit the runner, as pulumi-command's dial would.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_tools import FakeTools
from tools.harness import ROOT, Run
from tools.teardown import FIREWALL_TYPE, SERVER_TYPE, remote_steps, urns

SCRIPT = str(ROOT / "scripts" / "throwaway.sh")
SECRETS = {
    "PULUMI_BACKEND_URL": "s3://mailstack-state/mailstack?endpoint=fsn1.example&region=fsn1",
    "PULUMI_CONFIG_PASSPHRASE": "correct horse",
}
RUNNER = "20.51.7.9"  # GitHub-hosted runners sit in Azure's ranges
# What scripts/reap.py deletes through the Hetzner API (its KINDS), and what
# goes with the server (the volume attachment, the IPs' reverse DNS).
REAPED_TYPES = {
    SERVER_TYPE,
    FIREWALL_TYPE,
    "hcloud:index/volume:Volume",
    "hcloud:index/volumeAttachment:VolumeAttachment",
    "hcloud:index/primaryIp:PrimaryIp",
    "hcloud:index/rdns:Rdns",
    "hcloud:index/sshKey:SshKey",
}


def _state(run: Run, stack: str) -> list[dict[str, Any]]:
    """The dev program's resources as `pulumi stack export` lists them for `stack`."""
    prefix = run.registrations[0].urn.split("::", 1)[0]

    def rename(urn: str) -> str:
        return urn.replace(prefix, f"urn:pulumi:{stack}", 1)

    return [
        {
            "urn": rename(r.urn),
            "type": r.type,
            "dependencies": [rename(d) for d in r.dependencies],
            "inputs": {k: v for k, v in r.inputs.items() if k in ("delete", "create")},
        }
        for r in run.registrations
    ]


@pytest.fixture
def deployed(stack_runs: dict[str, Run]) -> list[dict[str, Any]]:
    return _state(stack_runs["dev"], "pr-12")


@pytest.fixture
def tools(tmp_path: Path, deployed: list[dict[str, Any]]) -> FakeTools:
    tools = FakeTools.create(tmp_path / "fakes")
    tools.update(stacks=["dev", "prod", "pr-12"], deployments={"pr-12": deployed}, gone=[])
    return tools


@pytest.fixture
def trace() -> Iterator[str]:
    """Cloudflare's trace endpoint, as the runner sees it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"fl=1\nh=1.1.1.1\nip={RUNNER}\nts=1\nvisit_scheme=https\n".encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cdn-cgi/trace"
    server.shutdown()


def _run(tools: FakeTools, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *argv],
        env=tools.env(**SECRETS, SMOKE_ATTEMPTS="1", SMOKE_DELAY="0", **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _export(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": 3, "deployment": {"resources": resources}}


# --- the lists -------------------------------------------------------------------------


def test_remote_steps_come_dependents_first(deployed: list[dict[str, Any]]) -> None:
    steps = remote_steps(_export(deployed))
    assert len(steps) == len([r for r in deployed if r["type"].startswith("command:remote:")])
    assert any("delete" in r["inputs"] for r in deployed if r["urn"] in steps)
    # In this order each one has no dependent left when it goes.
    remaining = {r["urn"]: r for r in deployed}
    for urn in steps:
        assert not [r["urn"] for r in remaining.values() if urn in r["dependencies"]], urn
        del remaining[urn]


def test_the_program_has_one_server_and_one_firewall(deployed: list[dict[str, Any]]) -> None:
    assert len(urns(_export(deployed), SERVER_TYPE)) == 1
    assert len(urns(_export(deployed), FIREWALL_TYPE)) == 1


def test_an_empty_stack_has_nothing_to_drop() -> None:
    assert remote_steps({"version": 3, "deployment": {}}) == []


# --- destroy ---------------------------------------------------------------------------


def _dropped(tools: FakeTools) -> list[str]:
    return [a[-1] for a in tools.argvs() if a[:2] == ["state", "delete"]]


def test_destroy_after_the_reaper_drops_the_steps_unrun_and_completes(
    tools: FakeTools, deployed: list[dict[str, Any]]
) -> None:
    tools.update(gone=[r["urn"] for r in deployed if r["type"] in REAPED_TYPES])
    result = _run(tools, "destroy", "pr-12")
    assert result.returncode == 0, result.stderr
    calls = tools.argvs()
    assert sorted(_dropped(tools)) == sorted(remote_steps(_export(deployed)))
    # Refreshed first, every step dropped before the destroy, which then had
    # no delete script left to run against the reaped address.
    destroy_at = next(i for i, a in enumerate(calls) if a[0] == "destroy")
    refresh_at = next(i for i, a in enumerate(calls) if a[0] == "refresh")
    drops = [i for i, a in enumerate(calls) if a[:2] == ["state", "delete"]]
    assert refresh_at < min(drops) and max(drops) < destroy_at
    assert "pr-12" not in tools.state["stacks"]


def test_destroy_from_a_runner_the_live_host_does_not_admit_completes(tools: FakeTools) -> None:
    # The server is there, but nothing on it outlives it: no delete script runs.
    result = _run(tools, "destroy", "pr-12")
    assert result.returncode == 0, result.stderr
    assert _dropped(tools)
    assert "pr-12" not in tools.state["stacks"]


def test_the_fake_destroy_fails_on_steps_of_a_server_that_is_gone(
    tools: FakeTools, deployed: list[dict[str, Any]]
) -> None:
    """What makes the tests above mean something: without the drop, a destroy
    after the reaper fails as the real one did."""
    tools.update(gone=[r["urn"] for r in deployed if r["type"] in REAPED_TYPES])
    env = tools.env(**SECRETS)
    for argv in (["config", "cp", "--stack", "dev", "--dest", "pr-12"],):
        subprocess.run(["pulumi", *argv], env=env, cwd=ROOT, check=True, capture_output=True)
    result = subprocess.run(
        ["pulumi", "destroy", "--stack", "pr-12", "--yes"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    assert "i/o timeout" in result.stderr


# --- up --admit-runner and release -----------------------------------------------------


def _admin_cidrs(tools: FakeTools, stack: str = "pr-12") -> list[str]:
    cidrs: list[str] = tools.state["config"][stack]["mailstack:adminCidrs"]
    return cidrs


def test_up_admits_the_runner_and_re_creates_the_existing_server_without_ssh(
    tools: FakeTools, deployed: list[dict[str, Any]], trace: str
) -> None:
    result = _run(tools, "--admit-runner", "up", "pr-12", RUNNER_ADDRESS_URL=trace)
    # The smoke test has no health URL to reach here; what matters is before it.
    assert "admitting this runner (20.51.7.9/32)" in result.stderr
    assert _admin_cidrs(tools) == ["198.51.100.7/32", f"{RUNNER}/32"]
    calls = tools.argvs()
    (server,) = urns(_export(deployed), SERVER_TYPE)
    destroy = ["destroy", "--stack", "pr-12", "--target", server, "--target-dependents"]
    (at,) = [i for i, a in enumerate(calls) if a[:6] == destroy]
    up_at = next(i for i, a in enumerate(calls) if a[0] == "up")
    drops = [i for i, a in enumerate(calls) if a[:2] == ["state", "delete"]]
    assert drops and max(drops) < at < up_at
    # The volume and the primary IPs stayed in the state, for the new server.
    kept = {r["type"] for r in tools.state["deployments"]["pr-12"]}
    assert {"hcloud:index/volume:Volume", "hcloud:index/primaryIp:PrimaryIp"} <= kept
    assert SERVER_TYPE not in kept


def test_up_of_a_new_stack_admits_the_runner_and_re_creates_nothing(
    tools: FakeTools, trace: str
) -> None:
    tools.update(stacks=["dev", "prod"], deployments={})
    _run(tools, "--admit-runner", "up", "pr-13", RUNNER_ADDRESS_URL=trace)
    assert _admin_cidrs(tools, "pr-13") == ["198.51.100.7/32", f"{RUNNER}/32"]
    assert not [a for a in tools.argvs() if a[0] == "destroy" or a[0] == "state"]


def test_release_takes_the_runner_out_of_the_cloud_firewall_only(
    tools: FakeTools, deployed: list[dict[str, Any]], trace: str
) -> None:
    _run(tools, "--admit-runner", "up", "pr-12", RUNNER_ADDRESS_URL=trace)
    tools.update(deployments={"pr-12": deployed})
    result = _run(tools, "release", "pr-12")
    assert result.returncode == 0, result.stderr
    assert _admin_cidrs(tools) == ["198.51.100.7/32"]
    (firewall,) = urns(_export(deployed), FIREWALL_TYPE)
    assert tools.argvs()[-1] == [
        "up", "--stack", "pr-12", "--target", firewall,
        "--yes", "--non-interactive", "--color", "never",
    ]  # fmt: skip


def test_release_of_a_stack_that_is_gone_does_nothing(tools: FakeTools) -> None:
    result = _run(tools, "release", "pr-99")
    assert result.returncode == 0, result.stderr
    assert tools.argvs() == [["stack", "ls", "--json"]]


@pytest.mark.parametrize("answer", ["ip=10.0.0.7", "ip=127.0.0.1", "ip=not-an-ip", "h=x", ""])
def test_up_stops_before_pulumi_when_the_address_is_not_a_public_one(
    tools: FakeTools, tmp_path: Path, answer: str
) -> None:
    served = tmp_path / "trace"
    served.write_text(answer + "\n")
    result = _run(tools, "--admit-runner", "up", "pr-12", RUNNER_ADDRESS_URL=served.as_uri())
    assert result.returncode == 1
    assert "could not learn this runner's public address" in result.stderr
    assert tools.argvs() == []


@pytest.mark.parametrize("stack", ["prod", "dev", "local"])
def test_the_runner_is_never_admitted_to_prod_or_dev(
    tools: FakeTools, trace: str, stack: str
) -> None:
    result = _run(tools, "--admit-runner", "up", stack, RUNNER_ADDRESS_URL=trace)
    assert result.returncode == 1
    assert "refusing to touch stack" in result.stderr
    assert tools.calls() == []
    assert json.dumps(tools.state).count(RUNNER) == 0


@pytest.mark.parametrize("argv", [["release", "pr-12"], ["destroy", "pr-12"]])
def test_admit_runner_goes_with_up_only(tools: FakeTools, argv: list[str]) -> None:
    result = _run(tools, "--admit-runner", *argv)
    assert result.returncode == 1
    assert "usage" in result.stderr


def test_the_review_workflow_admits_its_runner_and_always_takes_it_out() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "review-server.yml").read_text())
    steps = workflow["jobs"]["up"]["steps"]
    (up,) = [s for s in steps if "throwaway.sh" in s.get("run", "") and " up " in s["run"]]
    (release,) = [s for s in steps if "throwaway.sh" in s.get("run", "") and "release" in s["run"]]
    assert "--admit-runner up" in up["run"]
    assert release["if"] == "always()"
    assert steps.index(up) < steps.index(release)
    assert release["env"] == up["env"]
    # The destroy connects to nothing, so it admits nothing.
    destroy_runs = [s.get("run", "") for s in workflow["jobs"]["destroy"]["steps"]]
    assert not [r for r in destroy_runs if "--admit-runner" in r]
