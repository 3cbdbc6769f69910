"""Bad mail DNS settings are refused at config time, each named by its key path."""

from __future__ import annotations

from typing import Any

import pytest

from mailstack.config import ConfigError, StackConfig, validate
from tests.conftest import stack_config

TOKENS = ["a" * 32, "b" * 32, "c" * 32]


def load(stack: str = "dev", **edits: Any) -> StackConfig:
    config, secret_keys = stack_config(stack, **edits)
    return validate(config, secret_keys)


def problems(stack: str = "dev", **edits: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        load(stack, **edits)
    return {p.key: p.message for p in err.value.problems}


def test_committed_stacks_are_valid() -> None:
    for stack in ("local", "dev", "prod"):
        load(stack)


def test_eleven_includes_exceed_the_spf_lookup_limit() -> None:
    includes = [f"spf{i}.example.net" for i in range(11)]
    found = problems(set={"spfIncludes": includes})
    assert set(found) == {"spfIncludes"}
    assert "11 DNS lookups" in found["spfIncludes"] and "10" in found["spfIncludes"]


def test_ten_includes_are_the_most_allowed() -> None:
    config = load(set={"spfIncludes": [f"spf{i}.example.net" for i in range(10)]})
    assert len(config.dns.spf_includes) == 10


def test_an_include_that_is_not_a_domain_is_named_by_index() -> None:
    found = problems(set={"spfIncludes": ["_spf.example.net", "include:spf.example.net"]})
    assert set(found) == {"spfIncludes[1]"}
    assert "without 'include:'" in found["spfIncludes[1]"]


def test_duplicate_includes_are_refused() -> None:
    found = problems(set={"spfIncludes": ["spf.example.net", "spf.example.net"]})
    assert "listed twice" in found["spfIncludes"]


@pytest.mark.parametrize("policy", ["block", "Reject", ""])
def test_bad_dmarc_policy_is_refused(policy: str) -> None:
    found = problems(set={"dmarcPolicy": policy})
    assert set(found) == {"dmarcPolicy"}
    assert "'none', 'quarantine' or 'reject'" in found["dmarcPolicy"]


@pytest.mark.parametrize(
    "rua", ["mailto:dmarc@example.com", "dmarc", "dmarc@", "dmarc@example", "a b@example.com"]
)
def test_bad_rua_address_is_refused(rua: str) -> None:
    found = problems(set={"dmarcRua": rua})
    assert set(found) == {"dmarcRua"}
    assert "not an email address" in found["dmarcRua"]


def test_bad_subdomain_policy_and_pct_are_refused() -> None:
    found = problems(set={"dmarcSubdomainPolicy": "drop", "dmarcPct": 101})
    assert set(found) == {"dmarcSubdomainPolicy", "dmarcPct"}


def test_ses_dkim_tokens_must_be_three_well_formed_tokens() -> None:
    assert "exactly 3" in problems(set={"sesDkimTokens": TOKENS[:2]})["sesDkimTokens"]
    found = problems(set={"sesDkimTokens": [*TOKENS[:2], "Not-A-Token"]})
    assert "sesDkimTokens[2]" in found


def test_ses_signing_needs_ses_and_its_tokens() -> None:
    found = problems(set={"dkimSigner": "ses"})
    assert "3 Easy DKIM tokens" in found["sesDkimTokens"]
    found = problems(set={"dkimSigner": "ses", "mailRelay": "smtp", "smtpHost": "smtp.example.net"})
    assert set(found) == {"dkimSigner", "sesDkimTokens"}


def test_signer_is_ses_only_with_tokens_unless_forced_to_own() -> None:
    assert not load().ses_signs_dkim
    assert load(set={"sesDkimTokens": TOKENS}).ses_signs_dkim
    assert not load(set={"sesDkimTokens": TOKENS, "dkimSigner": "own"}).ses_signs_dkim


def test_duplicate_dkim_selectors_are_refused() -> None:
    found = problems(set={"dkimSelectors": ["ms202611", "ms202611"]})
    assert "listed twice" in found["dkimSelectors"]


def test_three_dkim_selectors_are_too_many() -> None:
    found = problems(set={"dkimSelectors": ["ms202601", "ms202606", "ms202611"]})
    assert set(found) == {"dkimSelectors"}


def test_colliding_names_are_refused() -> None:
    assert "mailSubdomain" in problems(set={"mailSubdomain": "app"})
    assert "sesMailFromSubdomain" in problems(set={"sesMailFromSubdomain": "mail"})
    assert "wwwRedirect" in problems(set={"wwwRedirect": True, "appSubdomain": "www"})
    assert "sesMailFromSubdomain" in problems(
        set={"wwwRedirect": True, "sesMailFromSubdomain": "www"}
    )
    mta_sts = {"receivesMail": True, "mtaSts": True}
    assert "mtaSts" in problems(set={**mta_sts, "appSubdomain": "mta-sts"})
    assert "sesMailFromSubdomain" in problems(set={**mta_sts, "sesMailFromSubdomain": "mta-sts"})
    # Without MTA-STS the label is free.
    assert load(set={"appSubdomain": "mta-sts"}).domain.app_host == "mta-sts.dev.example.com"


def test_a_null_mx_name_must_not_sit_beside_a_cname() -> None:
    found = problems(set={"wwwRedirect": True, "nullMxNames": ["www.dev.example.com"]})
    assert set(found) == {"nullMxNames[0]"}
    assert "www alias" in found["nullMxNames[0]"]


def test_null_mx_names_that_would_share_a_record_name_are_refused() -> None:
    found = problems(set={"nullMxNames": ["a.b.dev.example.com", "a-b.dev.example.com"]})
    assert set(found) == {"nullMxNames[1]"}
    assert "null-mx-a-b" in found["nullMxNames[1]"]


def test_null_mx_names_must_be_silent_subdomains() -> None:
    found = problems(
        set={"nullMxNames": ["example.org", "mail.dev.example.com", "bounce.dev.example.com"]}
    )
    assert set(found) == {"nullMxNames[0]", "nullMxNames[1]", "nullMxNames[2]"}
    assert "not a subdomain" in found["nullMxNames[0]"]
    assert load(set={"nullMxNames": ["app.dev.example.com"]}).dns.null_mx_names


def test_inbound_only_features_need_receives_mail() -> None:
    found = problems(set={"mtaSts": True, "tlsRptEmail": "tls@example.com"})
    assert set(found) == {"mtaSts", "tlsRptEmail"}
