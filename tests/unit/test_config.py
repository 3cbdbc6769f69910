"""Config validation: every bad input names its Pulumi key and nothing is registered."""

from __future__ import annotations

from typing import Any

import pytest

from mailstack.config import ConfigError, Environment, advice, validate
from tests.conftest import stack_config
from tools.harness import MailstackMocks, RecordingMonitor, run_program

# (id, stack, edits for stack_config, key path the error must name)
INVALID: list[tuple[str, str, dict[str, Any], str]] = [
    ("unknown key", "dev", {"set": {"serverTyp": "cx23"}}, "serverTyp"),
    ("wrong type int", "dev", {"set": {"volumeSizeGb": "lots"}}, "volumeSizeGb"),
    ("int below minimum", "dev", {"set": {"volumeSizeGb": 5}}, "volumeSizeGb"),
    ("wrong type bool", "dev", {"set": {"serverBackups": "maybe"}}, "serverBackups"),
    ("bad enum", "dev", {"set": {"environment": "staging"}}, "environment"),
    ("bad image", "dev", {"set": {"serverImage": "centos-7"}}, "serverImage"),
    ("bad server type", "dev", {"set": {"serverType": "CX 23"}}, "serverType"),
    ("bad domain", "dev", {"set": {"domain": "not a domain"}}, "domain"),
    ("domain without dot", "dev", {"set": {"domain": "localhost"}}, "domain"),
    ("missing domain", "dev", {"unset": ["domain"]}, "domain"),
    ("bad subdomain label", "dev", {"set": {"appSubdomain": "-app"}}, "appSubdomain"),
    ("bad CIDR", "dev", {"set": {"adminCidrs": ["10.0.0.300/32"]}}, "adminCidrs[0]"),
    ("CIDR host bits", "dev", {"set": {"adminCidrs": ["198.51.100.7/24"]}}, "adminCidrs[0]"),
    ("array not JSON", "dev", {"set": {"adminCidrs": "198.51.100.7/32"}}, "adminCidrs"),
    ("world SSH in prod v4", "prod", {"set": {"adminCidrs": ["0.0.0.0/0"]}}, "adminCidrs[0]"),
    ("world SSH in prod v6", "prod", {"set": {"adminCidrs": ["::/0"]}}, "adminCidrs[0]"),
    (
        "world SSH in prod as two halves",
        "prod",
        {"set": {"adminCidrs": ["198.51.100.7/32", "0.0.0.0/1", "128.0.0.0/1"]}},
        "adminCidrs[2]",
    ),
    ("huge IPv6 SSH block in prod", "prod", {"set": {"adminCidrs": ["8000::/1"]}}, "adminCidrs[0]"),
    (
        "all of IPv4 spelled in IPv6",
        "prod",
        {"set": {"adminCidrs": ["::ffff:0.0.0.0/96"]}},
        "adminCidrs[0]",
    ),
    ("prod stack as dev", "prod", {"set": {"environment": "dev"}}, "environment"),
    ("dev stack as prod", "dev", {"set": {"environment": "prod"}}, "environment"),
    ("no SSH keys", "dev", {"set": {"sshPublicKeys": []}}, "sshPublicKeys"),
    ("bad SSH key", "dev", {"set": {"sshPublicKeys": ["hello"]}}, "sshPublicKeys[0]"),
    ("no admin access", "dev", {"set": {"adminCidrs": []}}, "adminCidrs"),
    ("zone missing", "dev", {"unset": ["cloudflareZoneId"]}, "cloudflareZoneId"),
    ("bad zone id", "dev", {"set": {"cloudflareZoneId": "zone"}}, "cloudflareZoneId"),
    ("missing SMTP secret", "dev", {"unset": ["smtpPassword"]}, "smtpPassword"),
    ("missing backup secret", "prod", {"unset": ["backupPassword"]}, "backupPassword"),
    ("missing S3 secret", "dev", {"unset": ["backupS3SecretAccessKey"]}, "backupS3SecretAccessKey"),
    ("plain-text secret", "dev", {"set": {"smtpPassword": "hunter2"}}, "smtpPassword"),
    (
        "tailscale without key",
        "dev",
        {"set": {"tailscale": True}, "unset": ["tailscaleAuthKey"]},
        "tailscaleAuthKey",
    ),
    ("local target in dev", "dev", {"set": {"target": "local"}}, "target"),
    ("hetzner target in local env", "local", {"set": {"target": "hetzner"}}, "target"),
    ("sink on a server", "dev", {"set": {"mailRelay": "sink"}}, "mailRelay"),
    ("relay on local", "local", {"set": {"mailRelay": "ses"}}, "mailRelay"),
    ("smtp without host", "dev", {"set": {"mailRelay": "smtp"}}, "smtpHost"),
    ("blocked port 25", "dev", {"set": {"smtpPort": 25}}, "smtpPort"),
    ("port out of range", "dev", {"set": {"smtpPort": 70000}}, "smtpPort"),
    ("bad from address", "dev", {"set": {"fromAddress": "noreply"}}, "fromAddress"),
    ("bad DMARC policy", "dev", {"set": {"dmarcPolicy": "block"}}, "dmarcPolicy"),
    ("bad rua address", "dev", {"set": {"dmarcRua": "reports-at-example"}}, "dmarcRua"),
    ("pct above 100", "dev", {"set": {"dmarcPct": 101}}, "dmarcPct"),
    (
        "three DKIM selectors",
        "dev",
        {"set": {"dkimSelectors": ["a1", "a2", "a3"]}},
        "dkimSelectors",
    ),
    ("custom app without image", "dev", {"set": {"app": "custom"}}, "appImage"),
    ("latest tag", "dev", {"set": {"appImage": "ghcr.io/me/app:latest"}}, "appImage"),
    ("bad app preset", "dev", {"set": {"app": "wordpress"}}, "app"),
    ("bad health path", "dev", {"set": {"appHealthPath": "health"}}, "appHealthPath"),
    ("bad backup repo", "dev", {"set": {"backupRepository": "ftp://x"}}, "backupRepository"),
    ("prod without backups", "prod", {"set": {"backupEnabled": False}}, "backupEnabled"),
    ("bad schedule", "dev", {"set": {"backupSchedule": "daily; rm -rf /"}}, "backupSchedule"),
    (
        "bad heartbeat URL",
        "dev",
        {"secrets": {"backupHeartbeatUrl": "http://x"}},
        "backupHeartbeatUrl",
    ),
    (
        "plain heartbeat URL",
        "dev",
        {"set": {"backupHeartbeatUrl": "https://hc-ping.com/x"}},
        "backupHeartbeatUrl",
    ),
    ("bad Hetzner label", "dev", {"set": {"serverLabels": ["owner=me!"]}}, "serverLabels[0]"),
    ("bad expiry date", "dev", {"set": {"expiresAt": "tomorrow"}}, "expiresAt"),
    ("MTA-STS without MX", "dev", {"set": {"mtaSts": True}}, "mtaSts"),
    (
        "reject with softfail",
        "prod",
        {"set": {"dmarcPolicy": "reject", "spfAll": "~all"}},
        "spfAll",
    ),
]


@pytest.mark.parametrize(
    ("stack", "edits", "key_path"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_config_names_the_key_and_registers_nothing(
    stack: str, edits: dict[str, Any], key_path: str
) -> None:
    config, secret_keys = stack_config(stack, **edits)
    monitor = RecordingMonitor(MailstackMocks())
    with pytest.raises(ConfigError) as caught:
        run_program(stack, config, secret_keys, monitor=monitor)
    assert f"mailstack:{key_path}" in [str(p).split(": ", 1)[0] for p in caught.value.problems]
    assert monitor.registrations == []


def test_at_least_25_distinct_invalid_configs_are_covered() -> None:
    assert len({case[0] for case in INVALID}) >= 25


def test_every_problem_is_reported_at_once() -> None:
    config, secrets = stack_config(
        "dev",
        set={"serverType": "big", "volumeSizeGb": 1, "adminCidrs": ["nope"], "serverTyp": "x"},
    )
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    keys = {p.key for p in caught.value.problems}
    assert keys == {"serverType", "volumeSizeGb", "adminCidrs[0]", "serverTyp"}
    text = str(caught.value)
    assert "4 problem(s)" in text
    assert "did you mean 'mailstack:serverType'?" in text


def test_a_typo_in_the_namespace_is_an_error_not_silence() -> None:
    config, secrets = stack_config("dev")
    config["mailstak:serverType"] = "cx33"
    config["hcloud:token"] = "not ours to check"
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert [str(p) for p in caught.value.problems] == [
        "mailstak:serverType: unknown namespace; did you mean 'mailstack:serverType'?"
    ]


def test_the_stack_name_is_checked_only_against_prod() -> None:
    config, secrets = stack_config("dev")
    assert validate(config, secrets, stack="pr-17").stack.environment is Environment.DEV
    with pytest.raises(ConfigError, match="mailstack:environment: stack 'prod'"):
        validate(config, secrets, stack="prod")


def test_prod_accepts_site_sized_ssh_blocks() -> None:
    config, secrets = stack_config(
        "prod", set={"adminCidrs": ["203.0.113.0/24", "10.8.0.0/16", "2001:db8::/48"]}
    )
    assert validate(config, secrets, stack="prod").admin.cidrs == [
        "203.0.113.0/24",
        "10.8.0.0/16",
        "2001:db8::/48",
    ]


def test_cross_field_problems_are_all_reported_together() -> None:
    config, secrets = stack_config(
        "prod", set={"adminCidrs": ["0.0.0.0/0"], "mailRelay": "smtp"}, unset=["backupPassword"]
    )
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert {p.key for p in caught.value.problems} == {
        "adminCidrs[0]",
        "smtpHost",
        "backupPassword",
    }


def test_field_and_cross_field_problems_come_in_one_error() -> None:
    """A refused value must not hide the rules' problems until the next try."""
    config, secrets = stack_config(
        "prod",
        set={"serverType": "big", "adminCidrs": ["0.0.0.0/0"]},
        unset=["backupPassword"],
    )
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert {p.key for p in caught.value.problems} == {
        "serverType",
        "adminCidrs[0]",
        "backupPassword",
    }


def test_rules_say_nothing_about_a_refused_key() -> None:
    """A rule sees the default in place of a refused value: what it says of that
    key would be about the default, so only the refusal is reported."""
    config, secrets = stack_config("prod", set={"adminCidrs": ["0.0.0.0/0", "nope"]})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert [p.key for p in caught.value.problems] == ["adminCidrs[1]"]


def test_a_refused_environment_or_target_skips_the_rules() -> None:
    """Every rule depends on them; rules run on a guessed environment would
    report problems the stack does not have."""
    for key in ("environment", "target"):
        config, secrets = stack_config("prod", set={key: "staging"}, unset=["backupPassword"])
        with pytest.raises(ConfigError) as caught:
            validate(config, secrets)
        assert [p.key for p in caught.value.problems] == [key]


def test_a_wide_private_range_is_refused_without_calling_it_the_internet() -> None:
    config, secrets = stack_config("prod", set={"adminCidrs": ["10.0.0.0/8", "::ffff:0:0/96"]})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    private, mapped = caught.value.problems
    assert private.key == "adminCidrs[0]"
    assert "wider than prod allows for SSH" in private.message
    assert "internet" not in private.message
    assert mapped.key == "adminCidrs[1]"
    assert "opens SSH to a large part of the internet" in mapped.message


def test_the_same_ssh_key_twice_is_refused() -> None:
    """Hetzner takes a key once per project, and resource names derive from it:
    a duplicate (even with another comment) would fail only at `pulumi up`."""
    config, secrets = stack_config("dev")
    (key,) = validate(config, secrets).admin.ssh_public_keys
    again = " ".join(key.split()[:2]) + " someone@else"
    config, secrets = stack_config("dev", set={"sshPublicKeys": [key, again]})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert [str(p) for p in caught.value.problems] == [
        "mailstack:sshPublicKeys[1]: the same key as sshPublicKeys[0]; list each key once"
    ]


def test_errors_say_what_a_valid_value_looks_like() -> None:
    config, secrets = stack_config("dev", set={"adminCidrs": ["office"], "serverImage": "arch"})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    text = str(caught.value)
    assert "expected e.g. '198.51.100.7/32'" in text
    assert "'ubuntu-24.04'" in text and "'debian-12'" in text


def test_pattern_errors_show_an_example_not_only_the_regex() -> None:
    config, secrets = stack_config("dev", set={"serverType": "big server", "sesRegion": "mars"})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    found = {p.key: p.message for p in caught.value.problems}
    assert found["serverType"].startswith("got 'big server'; expected e.g. 'cx23'")
    assert found["sesRegion"].startswith("got 'mars'; expected e.g. 'eu-central-1'")


def test_a_missing_required_key_says_how_to_set_it() -> None:
    config, secrets = stack_config("dev", unset=["domain"])
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets)
    assert [p.message for p in caught.value.problems] == [
        "is required but not set, e.g. `pulumi config set domain example.com`"
    ]


def test_valid_config_is_typed_and_frozen() -> None:
    config, secrets = stack_config("prod")
    cfg = validate(config, secrets)
    assert cfg.stack.environment is Environment.PROD and cfg.is_prod
    assert cfg.admin.cidrs == ["198.51.100.7/32"]
    assert cfg.server.volume_size_gb == 50
    assert cfg.domain.mail_host == "mail.example.com"
    assert cfg.dmarc_rua == "dmarc@example.com"
    with pytest.raises(ValueError, match="frozen"):
        cfg.server.type = "cx53"  # type: ignore[misc]


def test_secrets_stay_pulumi_secrets(run_component: Any) -> None:
    import pulumi

    config, secrets = stack_config("dev", secrets={"smtpPassword": "s3cr3t-value"})
    seen: dict[str, Any] = {}

    def program() -> None:
        from mailstack.config import load_config

        cfg = load_config()
        pulumi.export("smtp", cfg.secrets.get("smtpPassword"))
        seen["model"] = cfg.model_dump_json()

    run = run_program("dev", config, secrets, program=program)
    assert run.outputs["smtp"] == "s3cr3t-value"
    assert "smtp" in run.secret_outputs
    assert "s3cr3t-value" not in seen["model"]


@pytest.mark.parametrize(
    ("stack", "settings", "warned"),
    [
        ("prod", {}, set()),
        ("dev", {}, set()),
        ("prod", {"redis": True}, {"redis"}),
        ("prod", {"redis": True, "storage": True}, {"redis", "storage"}),
        ("prod", {"app": "mailwizz", "redis": True, "storage": True}, {"storage"}),
        ("prod", {"app": "custom", "appImage": "a/b:1", "redis": True, "storage": True}, set()),
        ("prod", {"proxyWeb": True}, {"proxyWeb"}),
        (
            "prod",
            {"proxyWeb": True, "app": "custom", "appImage": "a/b:1", "monitoring": False},
            set(),
        ),
        ("local", {"redis": True, "storage": True, "proxyWeb": True}, {"redis", "storage"}),
    ],
)
def test_advice_names_what_a_valid_config_probably_did_not_mean(
    stack: str, settings: dict[str, Any], warned: set[str]
) -> None:
    """Redis or storage the preset never uses; admin paths behind Cloudflare's proxy,
    where every client looks like Cloudflare and so gets 403."""
    config, secrets = stack_config(stack, set=settings)
    assert {p.key for p in advice(validate(config, secrets))} == warned


def test_load_config_logs_advice_as_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))
    config, secrets = stack_config("prod", set={"redis": True})

    def program() -> None:
        from mailstack.config import load_config

        load_config()

    run_program("prod", config, secrets, program=program)
    warnings = [w for w in warnings if "is a placeholder" not in w]  # test_placeholders.py
    assert warnings == [
        "mailstack:redis: the listmonk preset never uses it; it would run for nothing"
    ]
