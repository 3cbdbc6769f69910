"""Throwaway stacks: their names, their Hetzner labels, and which ones the reaper deletes.

A throwaway stack is `pr-<number>` (a pull request's review server) or
`tw-<user>-<yyyymmdd>-<rand>` (made from a laptop). It is created from the
`dev` config with an expiry date, and its server carries these labels:

    mailstack-kind=throwaway  mailstack-stack=<stack>  mailstack-expires=<YYYY-MM-DD>
    mailstack-environment=dev

The label scheme itself is `common.labels`.

Stdlib only: `scripts/reap.py` runs on a bare Python without the project's
dependencies. `python -m tools.throwaway` is the small CLI the shell
scripts use, so the name rule and the label scheme live here and only here.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import string
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common.labels import (
    ENVIRONMENT_LABEL,
    EXPIRES_LABEL,
    KIND_LABEL,
    RESERVED_LABELS,
    STACK_LABEL,
    THROWAWAY,
    parse_labels,
)
from common.layout import HostLayout

BASE_STACK = "dev"
REPOSITORY = HostLayout().local_repository
"""A throwaway's restic repository: a directory on its own data volume, gone with it."""
DEFAULT_TTL_DAYS = 3
MAX_TTL_DAYS = 30

_NAME_RE = re.compile(r"pr-[1-9][0-9]{0,6}|tw-[a-z0-9]{1,12}-[0-9]{8}-[a-z0-9]{4}")
# Values that mark something as production wherever they appear in a label;
# the reaper leaves such a resource alone whatever its other labels say.
_PROD_VALUES = frozenset({"prod", "production"})


def is_throwaway_name(stack: str) -> bool:
    """True only for `pr-<n>` and `tw-<user>-<yyyymmdd>-<rand>` stack names.

    Never for a name containing `prod`: the reaper leaves everything that says
    prod alone, so such a throwaway would never be reaped.
    """
    return _NAME_RE.fullmatch(stack) is not None and "prod" not in stack


def pr_stack(number: int) -> str:
    if number < 1:
        raise ValueError(f"pull request number must be positive, got {number}")
    return f"pr-{number}"


def _random_suffix() -> str:
    alphabet = string.ascii_lowercase + string.digits
    while True:
        suffix = "".join(secrets.choice(alphabet) for _ in range(4))
        if suffix != "prod":
            return suffix


def laptop_stack(user: str, today: date, rand: str | None = None) -> str:
    """`tw-<user>-<yyyymmdd>-<rand>`; the user part is cut to what a label allows.

    `prod` is taken out of the user name (`prodigy` -> `igy`), and the random part
    is never `prod`, so the name is always one the reaper deletes once expired.
    """
    slug = re.sub(r"[^a-z0-9]", "", user.lower())
    while "prod" in slug:
        slug = slug.replace("prod", "")
    slug = slug[:12] or "anon"
    name = f"tw-{slug}-{today:%Y%m%d}-{rand if rand is not None else _random_suffix()}"
    if not is_throwaway_name(name):
        raise ValueError(f"{name!r} is not a throwaway stack name")
    return name


def throwaway_labels(stack: str, expires: date) -> dict[str, str]:
    if not is_throwaway_name(stack):
        raise ValueError(f"{stack!r} is not a throwaway stack name")
    return {
        KIND_LABEL: THROWAWAY,
        STACK_LABEL: stack,
        EXPIRES_LABEL: expires.isoformat(),
        ENVIRONMENT_LABEL: BASE_STACK,
    }


ConfigValue = str | list[str]
"""A stack config value as the throwaway sets it: text, or an array of text."""


def throwaway_config(
    stack: str,
    base: Mapping[str, str],
    today: date,
    ttl_days: int = DEFAULT_TTL_DAYS,
    admit: Sequence[str] = (),
) -> dict[str, ConfigValue]:
    """Config keys a throwaway stack overrides on top of the `dev` stack's config.

    `base` is the dev config in the CLI's wire form (arrays as JSON text). The
    mail domain becomes `<stack>.<dev domain>`, so every DNS name the stack
    creates (apex SPF/DMARC, DKIM, app and mail hosts) is its own and never
    collides with dev or with another throwaway in the same zone. It lives in
    dev's Hetzner project, which already holds dev's admin SSH keys, and Hetzner
    takes a public key once per project: so it registers only its own deploy
    key (the admin keys still reach the admin user through cloud-init).

    Its backups share nothing with dev's: a throwaway holds nothing worth
    keeping, and in dev's repository under dev's name its retention would prune
    dev's snapshots, its near-empty snapshots could be the `latest` a dev restore
    picks, and its heartbeat would cover for a dead dev backup. So no schedule
    and no heartbeat, and a repository of its own on its own volume (dev's
    object-store keys never reach the server): the tools are still installed,
    for the restore drill of prod's backups (docs/backups.md), whose safety
    snapshot of the throwaway's data goes there.
    """
    if not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValueError(f"ttl must be 1..{MAX_TTL_DAYS} days, got {ttl_days}")
    expires = today + timedelta(days=ttl_days)
    kept = [
        f"{k}={v}"
        for k, v in parse_labels(json.loads(base.get("mailstack:serverLabels", "[]"))).items()
        if k not in RESERVED_LABELS
    ]
    ours = [f"{k}={v}" for k, v in throwaway_labels(stack, expires).items()]
    return {
        "mailstack:domain": f"{stack}.{base['mailstack:domain']}",
        "mailstack:expiresAt": expires.isoformat(),
        # Text, as Pulumi keeps every top-level value; it reads "false" as a boolean.
        "mailstack:registerSshKeys": "false",
        "mailstack:backupRepository": REPOSITORY,
        "mailstack:backupSchedule": "",
        "mailstack:backupHeartbeatUrl": "",
        "mailstack:serverLabels": kept + ours,
        # dev's admin networks, plus the CI runner's address for one run
        # (docs/reviewing.md, "Reaching the server"); a throwaway's only.
        "mailstack:adminCidrs": [*json.loads(base.get("mailstack:adminCidrs", "[]")), *admit],
    }


def wire(config: Mapping[str, ConfigValue]) -> dict[str, str]:
    """`config` as the program receives it: arrays as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def set_all_pairs(config: Mapping[str, ConfigValue]) -> list[str]:
    """`key=value` pairs for `pulumi config set-all --path --plaintext` that write `config`.

    An array goes in item by item (`key[0]=...`), which stores a real array: for
    a key that Pulumi.yaml declares `type: array`, Pulumi refuses a JSON string.
    With `--path` a top-level value stays text, but an item that reads as a
    boolean or an integer would be stored as one, so such items are refused.
    """
    pairs = []
    for key, value in config.items():
        if isinstance(value, str):
            pairs.append(f"{key}={value}")
            continue
        for i, item in enumerate(value):
            if item in ("true", "false") or re.fullmatch(r"-?[0-9]+", item):
                raise ValueError(f"{key}[{i}]: {item!r} would be stored as a non-string")
            pairs.append(f"{key}[{i}]={item}")
    return pairs


# --- the reaper's choice ---------------------------------------------------------


# Hetzner has no delete protection for these: their API objects carry no
# `protection` field, and for them its absence means "none".
UNPROTECTABLE_KINDS = frozenset({"firewalls", "ssh_keys"})


@dataclass(frozen=True)
class CloudResource:
    """What the reaper needs to know of a Hetzner server, volume, primary IP,
    firewall or SSH key."""

    kind: str
    id: int
    name: str
    labels: Mapping[str, str]
    delete_protected: bool
    applied_to: tuple[int | None, ...] = ()
    """Firewalls: the ids of the servers it is applied to (None: a label selector)."""

    @classmethod
    def from_api(cls, kind: str, item: Mapping[str, Any]) -> CloudResource:
        protection = item.get("protection")
        if protection is None and kind in UNPROTECTABLE_KINDS:
            protected = False
        else:
            # Unknown protection counts as protected: never guess towards deleting.
            protected = bool((protection or {}).get("delete", True))
        return cls(
            kind=kind,
            id=int(item["id"]),
            name=str(item.get("name", "")),
            labels=dict(item.get("labels") or {}),
            delete_protected=protected,
            applied_to=tuple(
                int(a["server"]["id"]) if a.get("type") == "server" else None
                for a in item.get("applied_to") or []
            ),
        )


@dataclass(frozen=True)
class Verdict:
    resource: CloudResource
    delete: bool
    reason: str


@dataclass
class Selection:
    expired: list[CloudResource] = field(default_factory=list)
    kept: list[Verdict] = field(default_factory=list)


def judge(resource: CloudResource, today: date, servers_gone: Collection[int] = ()) -> Verdict:
    """Delete only an expired throwaway that nothing marks as prod or protected.

    `servers_gone`: ids of servers deleted before (or, in a dry run, that
    would be), which no longer hold a firewall.
    """
    labels = resource.labels
    if resource.delete_protected:
        return Verdict(resource, False, "delete protection is on")
    prod = [k for k, v in labels.items() if v.lower() in _PROD_VALUES or "prod" in k.lower()]
    if prod or "prod" in resource.name.lower():
        return Verdict(resource, False, "marked as prod")
    if labels.get(KIND_LABEL) != THROWAWAY:
        return Verdict(resource, False, f"not labelled {KIND_LABEL}={THROWAWAY}")
    if not is_throwaway_name(labels.get(STACK_LABEL, "")):
        return Verdict(resource, False, f"{STACK_LABEL} is not a throwaway stack name")
    if labels.get(ENVIRONMENT_LABEL) != BASE_STACK:
        return Verdict(resource, False, f"{ENVIRONMENT_LABEL} is not {BASE_STACK}")
    try:
        expires = date.fromisoformat(labels.get(EXPIRES_LABEL, ""))
    except ValueError:
        return Verdict(resource, False, f"no valid {EXPIRES_LABEL} date")
    if expires >= today:
        return Verdict(resource, False, f"expires {expires.isoformat()}")
    # Hetzner refuses to delete a firewall that is still applied.
    held = [
        f"server {a}" if a is not None else "a label selector"
        for a in resource.applied_to
        if a is None or a not in servers_gone
    ]
    if held:
        return Verdict(resource, False, f"expired, but still applied to {', '.join(held)}")
    return Verdict(resource, True, f"expired {expires.isoformat()}")


def select_expired(
    resources: Iterable[CloudResource],
    today: date,
    servers_left: Iterable[str] = (),
    servers_gone: Collection[int] = (),
) -> Selection:
    """The expired resources, and why each other one stays.

    `servers_left` names the stacks whose server is still there (kept, or its
    deletion failed): their firewalls and SSH keys stay with it.
    """
    left = frozenset(servers_left)
    selection = Selection()
    for resource in resources:
        verdict = judge(resource, today, servers_gone)
        stack = resource.labels.get(STACK_LABEL, "")
        if verdict.delete and resource.kind in UNPROTECTABLE_KINDS and stack in left:
            verdict = Verdict(resource, False, f"the server of {stack} is still there")
        if verdict.delete:
            selection.expired.append(resource)
        else:
            selection.kept.append(verdict)
    return selection


# --- CLI for the shell scripts ---------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.throwaway")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="exit 0 if STACK is a throwaway name, else 1")
    check.add_argument("stack")
    name = sub.add_parser("name", help="print a new throwaway stack name")
    name.add_argument("--pr", type=int, help="pull request number: pr-<n>")
    name.add_argument("--user", default="anon", help="laptop user: tw-<user>-<date>-<rand>")
    config = sub.add_parser(
        "config",
        help="print the `key=value` pairs (`config set-all --path`) a throwaway sets over dev",
    )
    config.add_argument("stack")
    config.add_argument("--ttl-days", type=int, default=DEFAULT_TTL_DAYS)
    config.add_argument("--admit", action="append", default=[], help="add CIDR to adminCidrs")
    config.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)

    if args.command == "check":
        if is_throwaway_name(args.stack):
            return 0
        print(
            f"{args.stack!r} is not a throwaway stack (pr-<n> or tw-<user>-<yyyymmdd>-<rand>)",
            file=sys.stderr,
        )
        return 1
    if args.command == "name":
        print(pr_stack(args.pr) if args.pr is not None else laptop_stack(args.user, _today()))
        return 0
    from tools.harness import read_stack_config

    if not is_throwaway_name(args.stack):
        print(f"{args.stack!r} is not a throwaway stack", file=sys.stderr)
        return 1
    base, _ = read_stack_config(BASE_STACK, args.root)
    for pair in set_all_pairs(
        throwaway_config(args.stack, base, _today(), args.ttl_days, args.admit)
    ):
        print(pair)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
