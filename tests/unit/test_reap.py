"""scripts/reap.py against a fake Hetzner Cloud API on localhost.

The selection logic is tested in test_throwaway.py; here: the script asks for
throwaway labels, follows pagination, deletes exactly the expired, unprotected
throwaways (servers first, waiting for their actions), and a dry run deletes
nothing.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mailstack.harness import ROOT

PAST, FUTURE = "2000-01-01", "2999-01-01"


def item(
    id_: int, expires: str, protected: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "id": id_,
        "name": f"r{id_}",
        "labels": {
            "mailstack-kind": "throwaway",
            "mailstack-stack": f"pr-{id_}",
            "mailstack-expires": expires,
            "mailstack-environment": "dev",
            **(labels or {}),
        },
        "protection": {"delete": protected},
    }


@dataclass
class FakeHetzner:
    resources: dict[str, list[dict[str, Any]]]
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
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
        }
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> tuple[str, dict[str, list[str]]]:
            parsed = urllib.parse.urlparse(self.path)
            fake.tokens.add(self.headers.get("Authorization", ""))
            query = urllib.parse.parse_qs(parsed.query)
            fake.requests.append((self.command, parsed.path, query))
            return parsed.path, query

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path, query = self._record()
            kind = path.removeprefix("/v1/")
            if kind.startswith("actions/"):
                self._json({"action": {"id": int(kind.split("/")[1]), "status": "success"}})
                return
            items = fake.resources[kind]
            page = int(query["page"][0])
            # Two per page, so the reaper has to follow next_page.
            chunk = items[(page - 1) * 2 : page * 2]
            next_page = page + 1 if page * 2 < len(items) else None
            self._json({kind: chunk, "meta": {"pagination": {"next_page": next_page}}})

        def do_DELETE(self) -> None:
            path, _ = self._record()
            kind, _, id_ = path.removeprefix("/v1/").partition("/")
            if kind == "servers":
                self._json({"action": {"id": 1000 + int(id_), "status": "running"}})
            else:
                self.send_response(204)
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()


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
    assert result.returncode == 0, result.stderr
    assert deletes(api) == [
        "/v1/servers/1",
        "/v1/servers/5",
        "/v1/volumes/11",
        "/v1/primary_ips/21",
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


def test_reap_without_delete_is_a_dry_run(api: FakeHetzner) -> None:
    result = reap(HCLOUD_TOKEN="tok", HCLOUD_ENDPOINT=api.url)
    assert result.returncode == 0, result.stderr
    assert deletes(api) == []
    assert "expired servers 1 r1 (dry run: --delete removes it)" in result.stdout


def test_reap_without_token_fails_or_skips_with_a_clear_message() -> None:
    failed = reap("--delete")
    assert failed.returncode == 1
    assert "reap skipped: HCLOUD_TOKEN is not set" in failed.stderr
    skipped = reap("--delete", "--skip-if-unconfigured")
    assert skipped.returncode == 0
    assert "reap skipped: HCLOUD_TOKEN is not set" in skipped.stderr
