"""Placeholder values warn in synth and preview and stop a real `pulumi up`."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from mailstack.config import ConfigError, validate
from mailstack.config.rules.placeholders import placeholder_values
from tests.conftest import stack_config
from tools.harness import run_program

REAL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAsRealLookingKey000000000000000000000000000 me@x"
REAL = {
    "domain": "mail-owner.de",
    "cloudflareZoneId": "9f86d081884c7d659a2feaa0c55ad015",
    "sshPublicKeys": [REAL_KEY],
    "adminCidrs": ["85.10.20.30/32"],
}


def _keys(stack: str, **settings: Any) -> set[str]:
    config, secrets = stack_config(stack, set=settings)
    return {p.key for p in placeholder_values(validate(config, secrets))}


def test_the_committed_examples_are_all_found() -> None:
    expected = {"domain", "cloudflareZoneId", "sshPublicKeys[0]", "adminCidrs[0]"}
    assert _keys("prod") == expected
    assert _keys("dev") == expected


def test_real_values_pass() -> None:
    assert _keys("prod", **REAL) == set()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"domain": "mail.example.net"}, "domain"),
        ({"domain": "example.org"}, "domain"),
        ({"adminCidrs": ["85.10.20.30/32", "192.0.2.0/28"]}, "adminCidrs[1]"),
        ({"adminCidrs": ["85.10.20.30/32", "203.0.113.9/32"]}, "adminCidrs[1]"),
        ({"adminCidrs": ["2001:db8:1::/48"]}, "adminCidrs[0]"),
        ({"dmarcRua": "reports@example.com"}, "dmarcRua"),
    ],
)
def test_each_kind_of_placeholder_is_found(settings: dict[str, Any], key: str) -> None:
    assert _keys("prod", **{**REAL, **settings}) == {key}


def test_a_neighbour_of_a_documentation_range_is_no_placeholder() -> None:
    assert _keys("prod", **{**REAL, "adminCidrs": ["198.51.101.7/32", "2001:db9::/32"]}) == set()
    assert _keys("prod", **{**REAL, "domain": "myexample.com"}) == set()


def test_the_local_stack_may_keep_them() -> None:
    assert _keys("local") == set()


def test_synth_and_preview_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    config, secrets = stack_config("prod")
    run = run_program("prod", config, secrets)
    assert run.registrations  # synth went on
    assert sum("is a placeholder" in w for w in warnings) == 4
    assert any(w.startswith("mailstack:cloudflareZoneId: '0123") for w in warnings)


def test_a_real_up_refuses_them_before_any_resource() -> None:
    config, secrets = stack_config("prod")
    with pytest.raises(ConfigError) as err:
        run_program("prod", config, secrets, real_up=True)
    text = str(err.value)
    for key in ("domain", "cloudflareZoneId", "sshPublicKeys[0]", "adminCidrs[0]"):
        assert f"mailstack:{key}: " in text
    assert "~/.ssh/id_ed25519.pub" in text and "Zone ID" in text


def test_a_real_up_with_real_values_goes_ahead() -> None:
    config, secrets = stack_config("prod", set=REAL)
    assert run_program("prod", config, secrets, real_up=True).registrations


def test_a_preview_is_no_real_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi preview` (is_dry_run) only warns, even outside the harness's synth."""
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    config, secrets = stack_config("prod")
    assert run_program("prod", config, secrets, real_up=True).registrations
