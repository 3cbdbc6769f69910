"""scripts/reap.py against a fake Hetzner Cloud API on localhost, and a fake pulumi.

The selection logic is tested in test_throwaway.py; here: the script asks for
throwaway labels, follows pagination, deletes exactly the expired, unprotected
throwaways (servers first, waiting for their actions, firewalls once nothing
uses them, SSH keys), removes the Pulumi stack of each throwaway it cleared
completely, and a dry run deletes nothing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fake_http import JsonApi, serve
from tests.fake_tools import FakeTools
from tools.harness import ROOT

PAST, FUTURE = "2000-01-01", "2999-01-01"


def item(
    id_: int,
    expires: str,
    protected: bool | None = False,
    labels: dict[str, str] | None = None,
    stack: str = "",
) -> dict[str, Any]:
    """A Hetzner API object; `protected=None` leaves out `protection`, as the API
    does for firewalls and SSH keys."""
    resource: dict[str, Any] = {
        "id": id_,
        "name": f"r{id_}",
        "labels": {
            "mailstack-kind": "throwaway",
            "mailstack-stack": stack or f"pr-{id_}",
            "mailstack-expires": expires,
            "mailstack-environment": "dev",
            **(labels or {}),
        },
    }
    if protected is not None:
        resource["protection"] = {"delete": protected}
    return resource


def firewall(id_: int, expires: str, stack: str, servers: list[int]) -> dict[str, Any]:
    applied = [{"type": "server", "server": {"id": s}} for s in servers]
    return {**item(id_, expires, None, stack=stack), "applied_to": applied}


@dataclass
class FakeHetzner:
    resources: dict[str, list[dict[str, Any]]]
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    url: str = ""


@pytest.fixture
def api() -> Iterator[FakeHetzner]:
    fake = FakeHetzner(
        {
            "servers": [
                item(1, PAST),
                item(2, FUTURE),
                item(3, PAST, protected=True),
                item(4, PAST, labels={"mailstack-environment": "prod"}),
                item(5, PAST),  # on page 2
            ],
            "volumes": [item(11, PAST), item(12, PAST, protected=True)],
            "primary_ips": [item(21, PAST), item(22, FUTURE)],
            "firewalls": [
                firewall(31, PAST, "pr-1", servers=[1]),
                firewall(33, PAST, "pr-3", servers=[3]),
                firewall(35, PAST, "pr-5", servers=[5]),
                firewall(36, PAST, "pr-36", servers=[99]),  # on a server nobody reaps
            ],
            "ssh_keys": [
                item(41, PAST, None, stack="pr-1"),
                item(43, PAST, None, stack="pr-3"),
                item(45, PAST, None, stack="pr-5"),
                item(46, FUTURE, None, stack="pr-2"),
            ],
        }
    )

    class Handler(JsonApi):
        def do_GET(self) -> None:
            path, query = self.record()
            kind = path.removeprefix("/v1/")
            if kind.startswith("actions/"):
                self.reply({"action": {"id": int(kind.split("/")[1]), "status": "success"}})
                return
            items = fake.resources[kind]
            page = int(query["page"][0])
            # Two per page, so the reaper has to follow next_page.
            chunk = items[(page - 1) * 2 : page * 2]
            next_page = page + 1 if page * 2 < len(items) else None
            self.reply({kind: chunk, "meta": {"pagination": {"next_page": next_page}}})

        def do_DELETE(self) -> None:
            path, _ = self.record()
            kind, _, id_ = path.removeprefix("/v1/").partition("/")
            (found,) = [r for r in fake.resources[kind] if r["id"] == int(id_)]
            if path in fake.failing:
                self.reply({"error": {"code": "server_error"}}, 500)
                return
            if found.get("applied_to"):
                # As Hetzner does: a firewall still applied cannot be deleted.
                self.reply({"error": {"code": "resource_in_use"}}, 409)
                return
            fake.resources[kind].remove(found)
            if kind == "servers":
                for fw in fake.resources["firewalls"]:
                    fw["applied_to"] = [
                        a for a in fw["applied_to"] if a["server"]["id"] != int(id_)
                    ]
                self.reply({"action": {"id": 1000 + int(id_), "status": "running"}})
            else:
                self.send_response(204)
                self.end_headers()

    with serve(Handler, fake) as url:
        fake.url = url + "/v1"
        yield fake


@pytest.fixture
def tools(tmp_path: Path) -> FakeTools:
    tools = FakeTools.create(tmp_path / "fakes")
    # pr-1 and pr-5 still list resources (DNS records and the rest) in their state.
    tools.update(stacks=["dev", "prod", "pr-1", "pr-3", "pr-5"], resources={"pr-1": 9, "pr-5": 9})
    return tools


def reap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HCLOUD_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reap.py"), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def deletes(fake: FakeHetzner) -> list[str]:
    return [path for method, path, _ in fake.requests if method == "DELETE"]


def test_reap_deletes_only_expired_unprotected_throwaways_servers_first(
    api: FakeHetzner,
) -> None:
    result = reap("--delete", HCLOUD_TOKEN="tok", HCLOUD_ENDPOINT=api.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert deletes(api) == [
        "/v1/servers/1",
        "/v1/servers/5",
        "/v1/volumes/11",
        "/v1/primary_ips/21",
        "/v1/firewalls/31",
        "/v1/firewalls/35",
        "/v1/ssh_keys/41",
        "/v1/ssh_keys/45",
    ]
    # Each server deletion finished before anything else was deleted.
    order = [(m, p) for m, p, _ in api.requests if m == "DELETE" or "/actions/" in p]
    assert order[:4] == [
        ("DELETE", "/v1/servers/1"),
        ("GET", "/v1/actions/1001"),
        ("DELETE", "/v1/servers/5"),
        ("GET", "/v1/actions/1005"),
    ]
    listed = [q for m, p, q in api.requests if m == "GET" and "/actions/" not in p]
    assert {q["label_selector"][0] for q in listed} == {"mailstack-kind==throwaway"}
    assert api.tokens == {"Bearer tok"}
    assert "keep    servers 3 r3: delete protection is on" in result.stdout
    assert "keep    servers 4 r4: marked as prod" in result.stdout
    assert "keep    servers 2 r2: expires 2999-01-01" in result.stdout
    # A protected server keeps its firewall and keys; so does a server nobody reaps.
    assert "keep    firewalls 33 r33: expired, but still applied to server 3" in result.stdout
    assert "keep    ssh_keys 43 r43: the server of pr-3 is still there" in result.stdout
    assert "keep    firewalls 36 r36: expired, but still applied to server 99" in result.stdout
    assert "keep    ssh_keys 46 r46: expires 2999-01-01" in result.stdout
    assert "stay in the backend: PULUMI_BACKEND_URL is not set" in result.stdout


def test_reap_without_delete_is_a_dry_run(api: FakeHetzner, tools: FakeTools) -> None:
    result = reap(HCLOUD_TOKEN="tok", HCLOUD_ENDPOINT=api.url, **backend(tools))
    assert result.returncode == 0, result.stdout + result.stderr
    assert deletes(api) == []
    assert "expired servers 1 r1 (dry run: --delete removes it)" in result.stdout
    assert "expired firewalls 31 r31 (dry run: --delete removes it)" in result.stdout
    assert "expired ssh_keys 41 r41 (dry run: --delete removes it)" in result.stdout
    assert "expired stack pr-1 (dry run: --delete removes it)" in result.stdout
    assert [a for a in tools.argvs() if a[:2] == ["stack", "rm"]] == []
    assert "pr-1" in tools.state["stacks"]


def backend(tools: FakeTools) -> dict[str, str]:
    env = tools.env(PULUMI_BACKEND_URL="s3://mailstack-state/mailstack")
    return {k: env[k] for k in ("PATH", "FAKE_LOG", "FAKE_STATE", "PULUMI_BACKEND_URL")}


def test_reap_removes_the_stacks_it_cleared_and_only_those(
    api: FakeHetzner, tools: FakeTools
) -> None:
    result = reap("--delete", HCLOUD_TOKEN="tok", HCLOUD_ENDPOINT=api.url, **backend(tools))
    assert result.returncode == 0, result.stdout + result.stderr
    # --force: the state still lists the DNS records the Hetzner API cannot reach.
    assert [a for a in tools.argvs() if a[:2] == ["stack", "rm"]] == [
        ["stack", "rm", "--force", "--yes", "--non-interactive", "pr-1"],
        ["stack", "rm", "--force", "--yes", "--non-interactive", "pr-5"],
    ]
    assert tools.state["stacks"] == ["dev", "prod", "pr-3"]
    assert "removed stack pr-1 (its DNS records stay in Cloudflare)" in result.stdout
    assert "no stack pr-11 in the backend" in result.stdout
    assert all(c["cwd"] == str(ROOT) for c in tools.calls())


def test_a_failed_deletion_keeps_the_rest_of_its_stack(api: FakeHetzner, tools: FakeTools) -> None:
    api.failing.add("/v1/servers/5")
    result = reap("--delete", HCLOUD_TOKEN="tok", HCLOUD_ENDPOINT=api.url, **backend(tools))
    assert result.returncode == 1
    assert "FAILED  servers 5 r5: DELETE servers/5: HTTP 500" in result.stdout
    assert "/v1/firewalls/35" not in deletes(api) and "/v1/ssh_keys/45" not in deletes(api)
    assert "keep    ssh_keys 45 r45: the server of pr-5 is still there" in result.stdout
    assert [a[-1] for a in tools.argvs() if a[:2] == ["stack", "rm"]] == ["pr-1"]
    assert "pr-5" in tools.state["stacks"]


def test_reap_with_a_backend_but_no_pulumi_deletes_nothing(api: FakeHetzner) -> None:
    result = reap(
        "--delete",
        HCLOUD_TOKEN="tok",
        HCLOUD_ENDPOINT=api.url,
        PULUMI_BACKEND_URL="s3://b",
        PULUMI="/nonexistent/pulumi",
    )
    assert result.returncode == 1
    assert "PULUMI_BACKEND_URL is set but there is no /nonexistent/pulumi" in result.stderr
    assert deletes(api) == []


def reap_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reap", ROOT / "scripts" / "reap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("stack", ["prod", "dev", "local", "tw-prodigy-20260310-ab12", "x"])
def test_the_reaper_never_removes_a_stack_that_is_not_a_throwaway(
    tools: FakeTools, stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in backend(tools).items():
        monkeypatch.setenv(key, value)
    reap_py = reap_module()
    with pytest.raises(reap_py.PulumiError, match="not a throwaway"):
        reap_py.Stacks("pulumi").remove(stack)
    assert tools.calls() == []


def test_reap_without_token_fails_or_skips_with_a_clear_message() -> None:
    failed = reap("--delete")
    assert failed.returncode == 1
    assert "reap skipped: HCLOUD_TOKEN is not set" in failed.stderr
    skipped = reap("--delete", "--skip-if-unconfigured")
    assert skipped.returncode == 0
    assert "reap skipped: HCLOUD_TOKEN is not set" in skipped.stderr
