"""The pure value builders: TXT splitting, SPF lookup counting, DMARC and MTA-STS values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.mail_records import (
    TXT_STRING_MAX,
    DmarcParams,
    MailRecordParams,
    RecordValues,
    build_records,
    dkim_public_key_base64,
    dmarc_value,
    mta_sts_id,
    mta_sts_policy,
    records_by_key,
    spf_lookup_count,
    spf_value,
    txt_content,
    txt_strings,
)
from tools.fakes import FAKE_RSA_PUBLIC_KEY_PEM

printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=1200)


@given(printable)
def test_txt_content_round_trips_in_strings_of_at_most_255(value: str) -> None:
    content = txt_content(value)
    strings = txt_strings(content)
    assert "".join(strings) == value
    assert all(len(s) <= TXT_STRING_MAX for s in strings)
    assert all(len(s) == TXT_STRING_MAX for s in strings[:-1])


def test_txt_content_boundaries_and_escapes() -> None:
    assert txt_content("a" * 255) == '"' + "a" * 255 + '"'
    assert txt_content("a" * 256) == '"' + "a" * 255 + '" "a"'
    assert txt_content('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    with pytest.raises(ValueError, match="outside quoted strings"):
        txt_strings('"a" b')


@pytest.mark.parametrize(
    ("value", "lookups"),
    [
        ("v=spf1 -all", 0),
        ("v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 ~all", 0),
        ("v=spf1 a mx -all", 2),
        ("v=spf1 a:mail.example.com mx/24 ptr exists:%{i}.x.example.com -all", 4),
        ("v=spf1 +include:a.example.net ~include:b.example.net -all", 2),
        ("v=spf1 ip4:192.0.2.1 redirect=_spf.example.net", 1),
        ("v=spf1 exp=explain.example.com -all", 0),
    ],
)
def test_spf_lookup_count(value: str, lookups: int) -> None:
    assert spf_lookup_count(value) == lookups


def test_spf_value_refuses_more_than_ten_lookups() -> None:
    ten = [f"include:s{i}.example.net" for i in range(10)]
    assert spf_value(ten, "-all").endswith("include:s9.example.net -all")
    with pytest.raises(ValueError, match="11 DNS lookups"):
        spf_value([*ten, "mx"], "-all")


def test_dmarc_value_writes_only_what_differs_from_defaults_where_allowed() -> None:
    assert dmarc_value(DmarcParams("none", "d@example.com")) == (
        "v=DMARC1; p=none; rua=mailto:d@example.com; adkim=r; aspf=r"
    )
    full = DmarcParams("reject", "d@example.com", "quarantine", 50, "f@example.com", "s", "s")
    assert dmarc_value(full) == (
        "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:d@example.com; "
        "ruf=mailto:f@example.com; fo=1; adkim=s; aspf=s"
    )


def test_mta_sts_policy_and_its_id_change_together() -> None:
    testing = mta_sts_policy("testing", ["mail.example.com"])
    assert testing == (
        "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
    )
    enforce = mta_sts_policy("enforce", ["mail.example.com"])
    assert mta_sts_id(testing) != mta_sts_id(enforce)
    assert mta_sts_id(testing).isalnum() and len(mta_sts_id(testing)) <= 32


def test_dkim_public_key_must_be_a_pem_public_key() -> None:
    assert dkim_public_key_base64(FAKE_RSA_PUBLIC_KEY_PEM).startswith("MIIBIjANBg")
    with pytest.raises(ValueError, match="PEM public key"):
        dkim_public_key_base64(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
        )


def test_placeholder_values_give_the_same_shape_as_real_ones() -> None:
    params = MailRecordParams(
        domain="example.com",
        app_host="app.example.com",
        mail_host="mail.example.com",
        dmarc=DmarcParams("none", "d@example.com"),
        dkim_selectors=("ms202606", "ms202611"),
        spf_server_ips=True,
        receives_mail=True,
    )
    real = RecordValues("192.0.2.1", "2001:db8::1", {"ms202606": "AAAA", "ms202611": "BBBB"})
    shape = records_by_key(build_records(params, RecordValues.unknown(params)))
    live = records_by_key(build_records(params, real))
    assert [(k, r.name, r.type, r.ttl) for k, r in shape.items()] == [
        (k, r.name, r.type, r.ttl) for k, r in live.items()
    ]
    # What differs is exactly what is marked derived.
    assert {k for k in shape if shape[k].content != live[k].content} == {
        k for k, r in shape.items() if r.derived
    }


def test_server_values_must_be_single_addresses() -> None:
    values = RecordValues.of_server("203.0.113.7", "2001:DB8::7", {})
    assert (values.ipv4, values.ipv6) == ("203.0.113.7", "2001:db8::7")
    with pytest.raises(ValueError, match="2001:db8::/64"):
        RecordValues.of_server("203.0.113.7", "2001:db8::/64", {})
    with pytest.raises(ValueError, match="2001:db8::7"):
        RecordValues.of_server("2001:db8::7", None, {})
