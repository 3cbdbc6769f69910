"""scripts/reap.py deletes the DNS records of the throwaways it cleared, and only those.

The fake Hetzner API and fake pulumi of test_reap.py decide which stacks the
reaper clears (pr-1 and pr-5; pr-3's server is protected, pr-2 unexpired). A
fake Cloudflare API on localhost holds dev's zone as a real one would: every
record the prod and dev programs make (the default layout puts dev's domain in
prod's zone), the records of pr-1, pr-3 and pr-5 as their programs make them,
and a record someone made by hand under pr-1's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from tests.conftest import stack_config
from tests.fake_http import JsonApi, serve
from tests.fake_tools import FakeTools
from tests.unit.test_reap import FakeHetzner, api, backend, reap, tools  # noqa: F401 (fixtures)
from tools import throwaway
from tools.harness import run_program

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ZONE = "0123456789abcdef0123456789abcdef"  # Pulumi.dev.yaml's cloudflareZoneId


def _made_by(stack: str) -> list[dict[str, Any]]:
    config, secret_keys = stack_config("dev" if stack.startswith("pr-") else stack)
    if stack.startswith("pr-"):
        config.update(throwaway.wire(throwaway.throwaway_config(stack, config, date(2026, 3, 10))))
    run = run_program(stack, config, secret_keys)
    return [
        {"name": r.inputs["name"], "type": r.inputs["type"], "comment": r.inputs.get("comment")}
        for r in run.of_type(DNS_RECORD)
    ]


@dataclass
class FakeCloudflare:
    records: list[dict[str, Any]]
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    url: str = ""

    def names(self) -> set[str]:
        return {r["name"] for r in self.records}


@pytest.fixture(scope="module")
def zone() -> list[dict[str, Any]]:
    records = [r for s in ("prod", "dev", "pr-1", "pr-3", "pr-5") for r in _made_by(s)]
    records.append({"name": "notes.pr-1.dev.example.com", "type": "TXT", "comment": "by hand"})
    return [{**r, "id": f"{n:032x}"} for n, r in enumerate(records)]


@pytest.fixture
def cloudflare(zone: list[dict[str, Any]]) -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare([dict(r) for r in zone])
    prefix = f"/client/v4/zones/{ZONE}/dns_records"

    class Handler(JsonApi):
        def do_GET(self) -> None:
            path, query = self.record()
            assert path == prefix, path
            suffix = query["name.endswith"][0]
            found = [r for r in fake.records if r["name"].endswith(suffix)]
            # Three per page, so the reaper has to page through.
            page = int(query["page"][0])
            pages = max(1, -(-len(found) // 3))
            chunk = found[(page - 1) * 3 : page * 3]
            self.reply({"success": True, "result": chunk, "result_info": {"total_pages": pages}})

        def do_DELETE(self) -> None:
            path, _ = self.record()
            record_id = path.removeprefix(prefix + "/")
            (found,) = [r for r in fake.records if r["id"] == record_id]
            fake.records.remove(found)
            self.reply({"success": True, "result": {"id": record_id}})

    with serve(Handler, fake) as url:
        fake.url = url + "/client/v4"
        yield fake


def _env(hetzner: FakeHetzner, dns: FakeCloudflare, fakes: FakeTools) -> dict[str, str]:
    return {
        "HCLOUD_TOKEN": "tok",
        "HCLOUD_ENDPOINT": hetzner.url,
        "CLOUDFLARE_API_TOKEN": "cf-tok",
        "CLOUDFLARE_ENDPOINT": dns.url,
        **backend(fakes),
    }


def test_reap_deletes_the_records_of_the_stacks_it_cleared_and_no_other(
    api: FakeHetzner,  # noqa: F811
    cloudflare: FakeCloudflare,
    tools: FakeTools,  # noqa: F811
    zone: list[dict[str, Any]],
) -> None:
    result = reap("--delete", **_env(api, cloudflare, tools))
    assert result.returncode == 0, result.stdout + result.stderr
    deleted = [r for r in zone if r not in cloudflare.records]
    assert all(
        r["name"].endswith((".pr-1.dev.example.com", ".pr-5.dev.example.com"))
        or r["name"] in ("pr-1.dev.example.com", "pr-5.dev.example.com")
        for r in deleted
    ), deleted
    assert len(deleted) == len(_made_by("pr-1")) + len(_made_by("pr-5"))
    # prod's, dev's, the protected pr-3's and the hand-made record all stay.
    for stack in ("prod", "dev", "pr-3"):
        for record in _made_by(stack):
            kept = [(r["name"], r["type"]) for r in cloudflare.records]
            assert (record["name"], record["type"]) in kept, record
    assert "notes.pr-1.dev.example.com" in cloudflare.names()
    assert cloudflare.tokens == {"Bearer cf-tok"}
    listed = {q["name.endswith"][0] for m, _, q in cloudflare.requests if m == "GET"}
    # pr-11 and pr-21 were cleared too (an expired volume, an expired IP).
    assert listed == {f"pr-{n}.dev.example.com" for n in (1, 5, 11, 21)}
    # Then the stacks go, with nothing left behind to mention.
    assert "removed stack pr-1\n" in result.stdout
    assert tools.state["stacks"] == ["dev", "prod", "pr-3"]


def test_a_dry_run_lists_the_records_and_deletes_none(
    api: FakeHetzner,  # noqa: F811
    cloudflare: FakeCloudflare,
    tools: FakeTools,  # noqa: F811
    zone: list[dict[str, Any]],
) -> None:
    result = reap(**_env(api, cloudflare, tools))
    assert result.returncode == 0, result.stdout + result.stderr
    assert cloudflare.records == zone
    assert "expired dns_records MX bounce.pr-1.dev.example.com (dry run" in result.stdout


def test_without_a_cloudflare_token_the_records_stay_and_it_says_so(
    api: FakeHetzner,  # noqa: F811
    cloudflare: FakeCloudflare,
    tools: FakeTools,  # noqa: F811
) -> None:
    env = _env(api, cloudflare, tools)
    del env["CLOUDFLARE_API_TOKEN"]
    result = reap("--delete", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert cloudflare.requests == []
    assert (
        "DNS records of pr-1 pr-11 pr-21 pr-5 stay: CLOUDFLARE_API_TOKEN is not set"
        in result.stdout
    )
    assert "removed stack pr-1 (its DNS records stay in Cloudflare)" in result.stdout
