"""Which DNS records the reaper deletes, judged on what the programs really make.

As tests/unit/test_throwaway.py does for the Hetzner resources: prod's and
dev's records come from a mock run of their committed config, read back as
the Cloudflare API lists them (fully qualified name, type, comment); a
throwaway's records are the control that the same reading does select.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import stack_config
from tools import throwaway
from tools.harness import ROOT, Run, run_program
from tools.throwaway_dns import (
    MANAGED_COMMENT,
    DnsRecord,
    belongs_to,
    dev_dns_settings,
    select_records,
    throwaway_domain,
)

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
TODAY = date(2026, 3, 10)
DEV_DOMAIN, _ = dev_dns_settings(ROOT)
THROWAWAYS = [
    *(f"pr-{n}" for n in (1, 2, 12, 99, 1000, 4711, 9999999)),
    "tw-jane-20260310-ab12",
    "tw-anon-20991231-zzzz",
]


def _as_the_api_lists_them(run: Run) -> list[DnsRecord]:
    records = [
        DnsRecord.from_api(
            {
                "id": f"{n:032x}",
                "name": r.inputs["name"],
                "type": r.inputs["type"],
                "comment": r.inputs.get("comment"),
            }
        )
        for n, r in enumerate(run.of_type(DNS_RECORD))
    ]
    assert records
    return records


def _records(stack: str) -> list[DnsRecord]:
    config, secret_keys = stack_config(stack)
    return _as_the_api_lists_them(run_program(stack, config, secret_keys))


def _throwaway_records(stack: str) -> list[DnsRecord]:
    config, secret_keys = stack_config("dev")
    config.update(throwaway.wire(throwaway.throwaway_config(stack, config, TODAY)))
    return _as_the_api_lists_them(run_program(stack, config, secret_keys))


@pytest.fixture(scope="module")
def prod_and_dev() -> list[DnsRecord]:
    return _records("prod") + _records("dev")


def test_the_program_writes_the_comment_the_reaper_looks_for(
    prod_and_dev: list[DnsRecord],
) -> None:
    assert {r.comment for r in prod_and_dev} == {MANAGED_COMMENT}


@pytest.mark.parametrize("stack", THROWAWAYS)
def test_no_record_of_prod_or_dev_is_ever_selected(
    prod_and_dev: list[DnsRecord], stack: str
) -> None:
    assert select_records(prod_and_dev, [stack], DEV_DOMAIN) == {stack: []}


@pytest.mark.parametrize("stack", THROWAWAYS[:3])
def test_even_with_prods_domain_as_the_base_no_prod_record_is_selected(
    prod_and_dev: list[DnsRecord], stack: str
) -> None:
    # The reaper misconfigured with prod's domain: throwaway names still never
    # match prod's own names.
    assert select_records(prod_and_dev, [stack], "example.com") == {stack: []}


def test_every_record_an_expired_throwaway_made_is_selected_and_only_for_it() -> None:
    """The control: the same reading selects a throwaway's records, so the empty
    selections above are the rules' doing."""
    made = _throwaway_records("pr-12")
    assert select_records(made, ["pr-12", "pr-1", "pr-120"], DEV_DOMAIN) == {
        "pr-12": made,
        "pr-1": [],
        "pr-120": [],
    }


def test_names_that_only_look_like_the_throwaways_are_kept() -> None:
    def record(name: str, comment: str = MANAGED_COMMENT) -> DnsRecord:
        return DnsRecord("id", name, "TXT", comment)

    assert belongs_to(record("PR-12.Dev.Example.com."), "pr-12", DEV_DOMAIN)
    assert belongs_to(record("_dmarc.pr-12.dev.example.com"), "pr-12", DEV_DOMAIN)
    for name in (
        "xpr-12.dev.example.com",
        "pr-12.dev.example.com.evil.net",
        "pr-12-dev.example.com",
        "pr-12.example.com",
        "dev.example.com",
    ):
        assert not belongs_to(record(name), "pr-12", DEV_DOMAIN), name
    assert not belongs_to(record("pr-12.dev.example.com", "mine"), "pr-12", DEV_DOMAIN)


@pytest.mark.parametrize("stack", ["prod", "dev", "local", "pr-0", "tw-prod-20260310-ab12", ""])
def test_no_domain_is_made_for_a_stack_that_is_not_a_throwaway(stack: str) -> None:
    with pytest.raises(ValueError, match="not a throwaway"):
        throwaway_domain(stack, DEV_DOMAIN)
    assert select_records([DnsRecord("i", f"{stack}.{DEV_DOMAIN}", "A", MANAGED_COMMENT)],
                          [stack], DEV_DOMAIN) == {}  # fmt: skip


@given(st.text(min_size=1, max_size=30))
def test_a_record_outside_the_throwaways_domain_is_never_selected(label: str) -> None:
    name = f"{label}.example.com"
    if name.lower().endswith(f".pr-7.{DEV_DOMAIN}") or name.lower() == f"pr-7.{DEV_DOMAIN}":
        return
    assert not belongs_to(DnsRecord("i", name, "A", MANAGED_COMMENT), "pr-7", DEV_DOMAIN)


def test_dev_settings_come_from_the_committed_dev_stack() -> None:
    assert DEV_DOMAIN == "dev.example.com"


@pytest.mark.parametrize(
    "text,key",
    [
        ("config:\n  mailstack:cloudflareZoneId: " + "a" * 32 + "\n", "mailstack:domain"),
        ("config:\n  mailstack:domain: dev.example.com\n", "mailstack:cloudflareZoneId"),
        ("config:\n  mailstack:domain: dev..example.com\n", "mailstack:domain"),
    ],
)
def test_odd_dev_settings_are_an_error_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(ValueError, match=key):
        dev_dns_settings(tmp_path)
