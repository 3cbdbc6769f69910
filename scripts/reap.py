#!/usr/bin/env python3
"""Delete expired throwaway servers and what they leave behind, by label.

    HCLOUD_TOKEN=... scripts/reap.py            # list what would go, delete nothing
    HCLOUD_TOKEN=... scripts/reap.py --delete   # delete it (make reap, reap.yml)

Asks the Hetzner Cloud API for everything labelled `mailstack-kind=throwaway`
and deletes only what `tools.throwaway.judge` calls expired: never anything
with delete protection, anything marked prod, or anything unexpired. Servers go
first (waiting for each deletion to finish), then the volumes and primary IPs
they leave behind, then their firewalls (Hetzner refuses to delete one that is
still applied) and SSH keys; a stack whose server stays keeps its firewalls and
keys. The token must be one of the project that holds the throwaway servers
(dev's); prod's project never needs to be reachable from here.

Then, with PULUMI_BACKEND_URL set (and the state bucket's credentials), it
removes the Pulumi stack of each throwaway it cleared completely:
`pulumi stack rm --force --yes <stack>`, only for throwaway stack names.
`--force` because the stack's state still lists what the Hetzner API does not
reach: its Cloudflare DNS records stay in dev's zone (docs/reviewing.md).

Standard library only (urllib), so it runs on any Python 3.11 without the
project's dependencies. HCLOUD_ENDPOINT overrides the API URL (as for `hcloud`),
PULUMI the Pulumi CLI (`pulumi`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common.labels import KIND_LABEL, STACK_LABEL, THROWAWAY
from tools.throwaway import CloudResource, is_throwaway_name, select_expired

ENDPOINT = "https://api.hetzner.cloud/v1"
ROOT = Path(__file__).resolve().parent.parent
# Deletion order: a server holds its volumes and primary IPs until it is gone,
# and Hetzner refuses to delete a firewall that is still applied to a server.
KINDS = ("servers", "volumes", "primary_ips", "firewalls", "ssh_keys")
ACTION_TIMEOUT_S = 300


class HetznerError(Exception):
    pass


class PulumiError(Exception):
    pass


class Hetzner:
    """The few Hetzner Cloud API calls the reaper makes."""

    def __init__(self, token: str, endpoint: str = ENDPOINT) -> None:
        self._token = token
        self._endpoint = endpoint.rstrip("/")

    def _call(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
        url = f"{self._endpoint}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        if not url.startswith(("https://", "http://")):
            raise HetznerError(f"refusing non-HTTP endpoint {url!r}")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, method=method, headers={"Authorization": f"Bearer {self._token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            raise HetznerError(f"{method} {path}: HTTP {err.code}: {detail}") from None
        return json.loads(body) if body else {}

    def list(self, kind: str, label_selector: str) -> Iterator[dict[str, Any]]:
        page: int | None = 1
        while page:
            data = self._call(
                "GET", kind, {"label_selector": label_selector, "page": str(page), "per_page": "50"}
            )
            yield from data.get(kind, [])
            page = data.get("meta", {}).get("pagination", {}).get("next_page")

    def delete(self, kind: str, resource_id: int) -> int | None:
        """Delete; the id of the action to wait for, if the API returns one."""
        data = self._call("DELETE", f"{kind}/{resource_id}")
        action = data.get("action") if isinstance(data, dict) else None
        return int(action["id"]) if action else None

    def wait(self, action_id: int, delay_s: float = 2.0) -> None:
        deadline = time.monotonic() + ACTION_TIMEOUT_S
        while time.monotonic() < deadline:
            action = self._call("GET", f"actions/{action_id}")["action"]
            if action["status"] == "success":
                return
            if action["status"] == "error":
                raise HetznerError(f"action {action_id} failed: {action.get('error')}")
            time.sleep(delay_s)
        raise HetznerError(f"action {action_id} still running after {ACTION_TIMEOUT_S}s")


class Stacks:
    """The Pulumi CLI, to remove the stack record of a reaped throwaway."""

    def __init__(self, pulumi: str, cwd: Path = ROOT) -> None:
        self._pulumi = pulumi
        self._cwd = cwd

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [self._pulumi, *args], cwd=self._cwd, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise PulumiError(f"pulumi {' '.join(args)}: {result.stderr.strip()[-500:]}")
        return result.stdout

    def names(self) -> set[str]:
        return {
            s["name"].rsplit("/", 1)[-1] for s in json.loads(self._run("stack", "ls", "--json"))
        }

    def remove(self, stack: str) -> None:
        # The stack name came from a label: check it again, fail closed.
        if not is_throwaway_name(stack):
            raise PulumiError(f"refusing to remove stack {stack!r}: not a throwaway")
        self._run("stack", "rm", "--force", "--yes", "--non-interactive", stack)


def reap(api: Hetzner, delete: bool, stacks: Stacks | None = None, out: Any = sys.stdout) -> int:
    """Judge every throwaway-labelled resource; delete the expired ones if asked,
    then remove the stacks of which nothing is left."""
    today = datetime.now(UTC).date()
    failures = 0
    servers_left: set[str] = set()
    servers_gone: set[int] = set()  # deleted, or in a dry run: would be
    cleared: set[str] = set()  # stacks this run deleted (or would delete) something of
    left: set[str] = set()  # stacks of which something stays
    for kind in KINDS:
        found = [
            CloudResource.from_api(kind, item)
            for item in api.list(kind, f"{KIND_LABEL}=={THROWAWAY}")
        ]
        selection = select_expired(found, today, servers_left, servers_gone)
        for verdict in selection.kept:
            r = verdict.resource
            left.add(r.labels.get(STACK_LABEL, ""))
            if kind == "servers":
                servers_left.add(r.labels.get(STACK_LABEL, ""))
            print(f"keep    {kind} {r.id} {r.name}: {verdict.reason}", file=out)
        for r in selection.expired:
            stack = r.labels[STACK_LABEL]
            cleared.add(stack)
            if not delete:
                print(f"expired {kind} {r.id} {r.name} (dry run: --delete removes it)", file=out)
                if kind == "servers":
                    servers_gone.add(r.id)
                continue
            try:
                action = api.delete(kind, r.id)
                if action is not None:
                    api.wait(action)
            except HetznerError as err:
                failures += 1
                left.add(stack)
                if kind == "servers":
                    servers_left.add(stack)
                print(f"FAILED  {kind} {r.id} {r.name}: {err}", file=out)
                continue
            if kind == "servers":
                servers_gone.add(r.id)
            print(f"deleted {kind} {r.id} {r.name}", file=out)
    failures += remove_stacks(sorted(cleared - left), delete, stacks, out)
    return 1 if failures else 0


def remove_stacks(names: list[str], delete: bool, stacks: Stacks | None, out: Any) -> int:
    """Remove the stack records of fully reaped throwaways; the number of failures."""
    if not names:
        return 0
    if stacks is None:
        print(
            f"stacks {' '.join(names)} stay in the backend: PULUMI_BACKEND_URL is not set", file=out
        )
        return 0
    try:
        existing = stacks.names()
    except PulumiError as err:
        print(f"FAILED  listing stacks: {err}", file=out)
        return 1
    failures = 0
    for name in names:
        if name not in existing:
            print(f"no stack {name} in the backend", file=out)
        elif not delete:
            print(f"expired stack {name} (dry run: --delete removes it)", file=out)
        else:
            try:
                stacks.remove(name)
            except PulumiError as err:
                failures += 1
                print(f"FAILED  stack {name}: {err}", file=out)
                continue
            print(f"removed stack {name} (its DNS records stay in Cloudflare)", file=out)
    return failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/reap.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--delete", action="store_true", help="delete (default: only list)")
    parser.add_argument(
        "--skip-if-unconfigured",
        action="store_true",
        help="without HCLOUD_TOKEN, say so and exit 0 (scheduled runs on forks)",
    )
    args = parser.parse_args(argv)
    token = os.environ.get("HCLOUD_TOKEN", "")
    if not token:
        print("reap skipped: HCLOUD_TOKEN is not set", file=sys.stderr)
        return 0 if args.skip_if_unconfigured else 1
    api = Hetzner(token, os.environ.get("HCLOUD_ENDPOINT") or ENDPOINT)
    stacks = None
    if os.environ.get("PULUMI_BACKEND_URL"):
        pulumi = os.environ.get("PULUMI") or "pulumi"
        if shutil.which(pulumi) is None:
            print(f"reap: PULUMI_BACKEND_URL is set but there is no {pulumi}", file=sys.stderr)
            return 1
        stacks = Stacks(pulumi)
    try:
        return reap(api, args.delete, stacks)
    except HetznerError as err:
        print(f"reap: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
