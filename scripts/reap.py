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

Then, with CLOUDFLARE_API_TOKEN set, it deletes the Cloudflare DNS records of
each throwaway it cleared completely, in dev's zone (`cloudflareZoneId` and
`domain` of Pulumi.dev.yaml): only records named `<stack>.<dev domain>` or a
name under it that carry the program's comment (tools/throwaway_dns.py),
so a new stack of the same name can create them again.

Then, with PULUMI_BACKEND_URL set (and the state bucket's credentials), it
removes the Pulumi stack of each throwaway it cleared completely (DNS records
included, when it was asked to delete them):
`pulumi stack rm --force --yes <stack>`, only for throwaway stack names.
`--force` because the stack's state still lists what it deleted behind
Pulumi's back.

Standard library only (urllib), so it runs on any Python 3.11 without the
project's dependencies. HCLOUD_ENDPOINT overrides the API URL (as for `hcloud`),
CLOUDFLARE_ENDPOINT Cloudflare's, PULUMI the Pulumi CLI (`pulumi`).
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
from tools.throwaway_dns import DnsRecord, dev_dns_settings, select_records, throwaway_domain

ENDPOINT = "https://api.hetzner.cloud/v1"
CLOUDFLARE_ENDPOINT = "https://api.cloudflare.com/client/v4"
ROOT = Path(__file__).resolve().parent.parent
# Deletion order: a server holds its volumes and primary IPs until it is gone,
# and Hetzner refuses to delete a firewall that is still applied to a server.
KINDS = ("servers", "volumes", "primary_ips", "firewalls", "ssh_keys")
ACTION_TIMEOUT_S = 300


class HetznerError(Exception):
    pass


class CloudflareError(Exception):
    pass


class PulumiError(Exception):
    pass


def _call_json(method: str, url: str, token: str, what: str, error: type[Exception]) -> Any:
    """One authenticated JSON call; an HTTP error becomes `error` naming `what`."""
    if not url.startswith(("https://", "http://")):
        raise error(f"refusing non-HTTP endpoint {url!r}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise error(f"{method} {what}: HTTP {err.code}: {detail}") from None
    return json.loads(body) if body else {}


class Hetzner:
    """The few Hetzner Cloud API calls the reaper makes."""

    def __init__(self, token: str, endpoint: str = ENDPOINT) -> None:
        self._token = token
        self._endpoint = endpoint.rstrip("/")

    def _call(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
        url = f"{self._endpoint}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return _call_json(method, url, self._token, path, HetznerError)

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


class Cloudflare:
    """The two Cloudflare API calls the reaper makes, in one zone."""

    def __init__(self, token: str, zone_id: str, endpoint: str = CLOUDFLARE_ENDPOINT) -> None:
        self._token = token
        self._base = f"{endpoint.rstrip('/')}/zones/{zone_id}/dns_records"

    def _call(self, method: str, path: str = "", query: dict[str, str] | None = None) -> Any:
        url = self._base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        return _call_json(method, url, self._token, f"dns_records{path}", CloudflareError)

    def records_under(self, domain: str) -> Iterator[DnsRecord]:
        page, pages = 1, 1
        while page <= pages:
            query = {"name.endswith": domain, "page": str(page), "per_page": "100"}
            data = self._call("GET", query=query)
            yield from (DnsRecord.from_api(item) for item in data.get("result") or [])
            pages = int((data.get("result_info") or {}).get("total_pages") or 1)
            page += 1

    def delete(self, record_id: str) -> None:
        self._call("DELETE", f"/{urllib.parse.quote(record_id, safe='')}")


def reap_dns(
    dns: Cloudflare | None, base_domain: str, stacks: list[str], delete: bool, out: Any
) -> set[str]:
    """Delete the DNS records of the reaped `stacks`; the stacks where that failed."""
    if not stacks:
        return set()
    if dns is None:
        print(f"DNS records of {' '.join(stacks)} stay: CLOUDFLARE_API_TOKEN is not set", file=out)
        return set()
    failed: set[str] = set()
    for stack in stacks:
        try:
            listed = list(dns.records_under(throwaway_domain(stack, base_domain)))
        except CloudflareError as err:
            print(f"FAILED  listing DNS records of {stack}: {err}", file=out)
            failed.add(stack)
            continue
        for record in select_records(listed, [stack], base_domain)[stack]:
            label = f"dns_records {record.type} {record.name}"
            if not delete:
                print(f"expired {label} (dry run: --delete removes it)", file=out)
                continue
            try:
                dns.delete(record.id)
            except CloudflareError as err:
                failed.add(stack)
                print(f"FAILED  {label}: {err}", file=out)
                continue
            print(f"deleted {label}", file=out)
    return failed


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


def reap(
    api: Hetzner,
    delete: bool,
    stacks: Stacks | None = None,
    out: Any = sys.stdout,
    dns: Cloudflare | None = None,
    base_domain: str = "",
) -> int:
    """Judge every throwaway-labelled resource; delete the expired ones if asked,
    then the DNS records and the stacks of those of which nothing is left."""
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
    gone = sorted(cleared - left)
    dns_failed = reap_dns(dns, base_domain, gone, delete, out)
    failures += len(dns_failed)
    # A stack whose records could not all be deleted stays, so that
    # `make destroy` can still delete them.
    removable = [s for s in gone if s not in dns_failed]
    failures += remove_stacks(removable, delete, stacks, out, dns is not None)
    return 1 if failures else 0


def remove_stacks(
    names: list[str], delete: bool, stacks: Stacks | None, out: Any, dns_reaped: bool = False
) -> int:
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
            note = "" if dns_reaped else " (its DNS records stay in Cloudflare)"
            print(f"removed stack {name}{note}", file=out)
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
    dns, base_domain = None, ""
    cloudflare_token = os.environ.get("CLOUDFLARE_API_TOKEN", "")
    if cloudflare_token:
        try:
            base_domain, zone_id = dev_dns_settings(ROOT)
        except (OSError, ValueError) as err:
            print(f"reap: {err}", file=sys.stderr)
            return 1
        endpoint = os.environ.get("CLOUDFLARE_ENDPOINT") or CLOUDFLARE_ENDPOINT
        dns = Cloudflare(cloudflare_token, zone_id, endpoint)
    try:
        return reap(api, args.delete, stacks, dns=dns, base_domain=base_domain)
    except HetznerError as err:
        print(f"reap: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
