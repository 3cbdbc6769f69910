"""Throwaway stacks: names, labels, the config they get, and what the reaper may delete."""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import labels as label_scheme
from mailstack.config import ConfigError, validate
from tests.conftest import stack_config
from tools import throwaway
from tools.harness import Run, run_program
from tools.throwaway import CloudResource, select_expired, throwaway_config

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize("name", ["pr-1", "pr-4711", "tw-jane-20260310-a1b2", "tw-x-20260101-zzzz"])
def test_throwaway_names_are_recognised(name: str) -> None:
    assert throwaway.is_throwaway_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "prod",
        "dev",
        "local",
        "pr-0",
        "pr-",
        "pr-12x",
        "PR-12",
        "pr-12\n",
        "prod-pr-1",
        "tw-jane-2026031-a1b2",
        "tw--20260310-a1b2",
        "tw-jane-20260310-a1b2-prod",
        "tw-prodigy-20260310-a1b2",
        "tw-jane-20260310-prod",
        "tw-xprodx-20260310-a1b2",
        "../pr-1",
        "",
    ],
)
def test_everything_else_is_not_a_throwaway(name: str) -> None:
    assert not throwaway.is_throwaway_name(name)


@given(st.text(max_size=40) | st.text(alphabet="pProOdD.-_", max_size=40))
def test_a_laptop_name_is_always_a_throwaway_name_without_prod(user: str) -> None:
    name = throwaway.laptop_stack(user, TODAY)
    assert throwaway.is_throwaway_name(name)
    assert "prod" not in name


@pytest.mark.parametrize(
    ("user", "slug"),
    [
        ("prodigy", "igy"),
        ("Prod", "anon"),
        ("pprodrod", "anon"),
        ("p.rod", "anon"),
        ("jprodane", "jane"),
    ],
)
def test_prod_is_taken_out_of_laptop_user_names(user: str, slug: str) -> None:
    """The reaper never deletes what says prod: such a throwaway would live forever."""
    assert throwaway.laptop_stack(user, TODAY, rand="ab12") == f"tw-{slug}-20260310-ab12"


def test_the_random_part_is_never_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter("prodab12")
    monkeypatch.setattr(secrets, "choice", lambda _alphabet: next(drawn))
    assert throwaway.laptop_stack("jane", TODAY) == "tw-jane-20260310-ab12"
    with pytest.raises(ValueError, match="not a throwaway"):
        throwaway.laptop_stack("jane", TODAY, rand="prod")


def test_laptop_names_carry_user_date_and_randomness() -> None:
    assert throwaway.laptop_stack("Jane.Doe", TODAY, rand="ab12") == "tw-janedoe-20260310-ab12"
    names = {throwaway.laptop_stack("jane", TODAY) for _ in range(20)}
    assert len(names) > 1


def test_throwaway_config_gets_own_domain_expiry_and_labels() -> None:
    base, _ = stack_config("dev", placeholder_secrets=False)
    base["mailstack:serverLabels"] = json.dumps(
        ["team=mail", "mailstack-kind=forged", "mailstack-environment=prod"]
    )
    config = throwaway_config("pr-12", base, TODAY, ttl_days=3)
    assert config["mailstack:domain"] == "pr-12.dev.example.com"
    assert config["mailstack:expiresAt"] == "2026-03-13"
    assert config["mailstack:registerSshKeys"] == "false"
    assert config["mailstack:serverLabels"] == [
        "team=mail",
        "mailstack-kind=throwaway",
        "mailstack-stack=pr-12",
        "mailstack-expires=2026-03-13",
        "mailstack-environment=dev",
    ]


@pytest.mark.parametrize("ttl", [0, -1, throwaway.MAX_TTL_DAYS + 1])
def test_throwaway_ttl_is_bounded(ttl: int) -> None:
    base, _ = stack_config("dev", placeholder_secrets=False)
    with pytest.raises(ValueError, match="ttl"):
        throwaway_config("pr-12", base, TODAY, ttl_days=ttl)


def test_throwaway_config_refuses_non_throwaway_names() -> None:
    base, _ = stack_config("dev", placeholder_secrets=False)
    with pytest.raises(ValueError, match="not a throwaway"):
        throwaway_config("prod", base, TODAY)


def test_set_all_pairs_write_arrays_item_by_item() -> None:
    config: dict[str, throwaway.ConfigValue] = {
        "mailstack:domain": "pr-1.dev.example.com",
        "mailstack:serverLabels": ["a=1", "b=2"],
    }
    assert throwaway.set_all_pairs(config) == [
        "mailstack:domain=pr-1.dev.example.com",
        "mailstack:serverLabels[0]=a=1",
        "mailstack:serverLabels[1]=b=2",
    ]


@pytest.mark.parametrize("item", ["true", "false", "42", "-1"])
def test_set_all_pairs_refuse_items_pulumi_would_not_keep_as_text(item: str) -> None:
    with pytest.raises(ValueError, match=r"serverLabels\[1\]"):
        throwaway.set_all_pairs({"mailstack:serverLabels": ["a=1", item]})


def test_the_config_cli_prints_set_all_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    assert throwaway.main(["config", "pr-12"]) == 0
    pairs = capsys.readouterr().out.splitlines()
    assert "mailstack:domain=pr-12.dev.example.com" in pairs
    assert "mailstack:serverLabels[0]=mailstack-kind=throwaway" in pairs
    assert "mailstack:serverLabels[1]=mailstack-stack=pr-12" in pairs


def test_a_throwaway_config_over_dev_validates() -> None:
    config, secret_keys = stack_config("dev")
    config.update(throwaway.wire(throwaway_config("tw-jane-20260310-ab12", config, TODAY)))
    validated = validate(config, secret_keys)
    assert validated.stack.expires_at == "2026-03-13"
    assert validated.domain.app_host == "app.tw-jane-20260310-ab12.dev.example.com"
    assert validated.admin.register_ssh_keys is False
    assert validated.admin.ssh_public_keys  # the admin keys still go in through the access step


def test_a_throwaway_registers_only_its_own_deploy_key_with_hetzner() -> None:
    """dev's admin keys are in the Hetzner project already, which takes a key once."""
    config, secret_keys = stack_config("dev")
    config.update(throwaway.wire(throwaway_config("pr-12", config, TODAY)))
    run = run_program("pr-12", config, secret_keys)
    (key,) = run.of_type("hcloud:index/sshKey:SshKey")
    assert key.name == "server-key-deploy"
    admin_key = json.loads(config["mailstack:sshPublicKeys"])[0]
    assert admin_key in run.artifacts["host/access.sh"].text


# --- config rules -------------------------------------------------------------


def _problems(stack: str, **edits: Any) -> list[str]:
    config, secret_keys = stack_config(stack, **edits)
    with pytest.raises(ConfigError) as err:
        validate(config, secret_keys)
    return [f"{p.key}: {p.message}" for p in err.value.problems]


def test_prod_never_expires() -> None:
    problems = _problems("prod", set={"expiresAt": "2026-03-13"})
    assert problems == ["expiresAt: prod never expires: remove `expiresAt`"]


@pytest.mark.parametrize("label", ["mailstack-kind=throwaway", "mailstack-expires=2026-03-13"])
def test_prod_never_carries_a_throwaway_label(label: str) -> None:
    problems = _problems("prod", set={"serverLabels": ["team=mail", label]})
    assert problems == [f"serverLabels[1]: {label!r}: prod must not carry a throwaway label"]


def test_a_throwaway_label_needs_the_matching_expiry() -> None:
    labels = ["mailstack-kind=throwaway", "mailstack-expires=2026-03-13"]
    assert _problems("dev", set={"serverLabels": labels}) == [
        "expiresAt: a stack labelled mailstack-kind=throwaway must set `expiresAt` "
        "to its mailstack-expires label (2026-03-13)"
    ]
    assert _problems("dev", set={"serverLabels": labels, "expiresAt": "2026-03-14"})


def test_committed_stacks_carry_no_throwaway_marks() -> None:
    for stack in ("local", "dev", "prod"):
        config, secret_keys = stack_config(stack)
        validated = validate(config, secret_keys)
        assert validated.stack.expires_at == ""
        assert not set(label_scheme.parse_labels(validated.server.labels)) & set(
            label_scheme.THROWAWAY_ONLY_LABELS
        )


# --- the reaper's selection ------------------------------------------------------


def server(
    id_: int,
    labels: dict[str, str],
    protected: bool = False,
    name: str = "",
) -> CloudResource:
    return CloudResource("servers", id_, name or f"server-{id_}", labels, protected)


def labels(stack: str = "pr-12", expires: str = "2026-03-09", **extra: str) -> dict[str, str]:
    return {
        "mailstack-kind": "throwaway",
        "mailstack-stack": stack,
        "mailstack-expires": expires,
        "mailstack-environment": "dev",
        **extra,
    }


def test_expired_throwaways_are_selected() -> None:
    fleet = [
        server(1, labels()),
        server(2, labels(stack="tw-jane-20260301-ab12", expires="2026-01-01")),
    ]
    assert [r.id for r in select_expired(fleet, TODAY).expired] == [1, 2]


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (server(1, labels(expires="2026-03-10")), "expires 2026-03-10"),
        (server(2, labels(expires="2027-01-01")), "expires 2027-01-01"),
        (server(3, labels(), protected=True), "delete protection is on"),
        (server(4, labels(**{"mailstack-environment": "prod"})), "marked as prod"),
        (server(5, labels(stack="prod")), "marked as prod"),
        (server(6, labels(environment="production")), "marked as prod"),
        (server(7, labels(), name="mailstack-prod"), "marked as prod"),
        (server(8, labels(stack="dev")), "mailstack-stack is not a throwaway stack name"),
        (server(9, labels(expires="soon")), "no valid mailstack-expires date"),
        (server(10, {"mailstack-environment": "dev"}), "not labelled mailstack-kind=throwaway"),
        (server(11, labels(**{"mailstack-kind": "keep"})), "not labelled mailstack-kind="),
        (server(12, labels(**{"mailstack-environment": "staging"})), "is not dev"),
        (server(13, {}), "not labelled"),
    ],
)
def test_unexpired_prod_protected_or_foreign_resources_are_never_selected(
    resource: CloudResource, reason: str
) -> None:
    selection = select_expired([resource], TODAY)
    assert selection.expired == []
    (verdict,) = selection.kept
    assert reason in verdict.reason


@given(
    st.dictionaries(
        st.sampled_from([*label_scheme.RESERVED_LABELS, "env", "environment", "team", "prod"]),
        st.sampled_from(
            ["throwaway", "prod", "production", "dev", "pr-3", "prod-1", "2026-01-01", "x"]
        ),
    ),
    st.booleans(),
    st.sampled_from(["servers", "volumes", "primary_ips", "firewalls", "ssh_keys"]),
)
def test_prod_or_protected_is_never_selected_whatever_else_it_says(
    extra: dict[str, str], protected: bool, kind: str
) -> None:
    resource = CloudResource(kind, 1, "r1", {**labels(expires="2000-01-01"), **extra}, protected)
    marked_prod = any(
        v in ("prod", "production") or "prod" in k for k, v in resource.labels.items()
    )
    if protected or marked_prod:
        assert select_expired([resource], TODAY).expired == []


def test_missing_protection_field_counts_as_protected() -> None:
    item = {"id": 5, "name": "s", "labels": labels()}
    resource = CloudResource.from_api("servers", item)
    assert resource.delete_protected
    assert select_expired([resource], TODAY).expired == []
    unprotected = CloudResource.from_api(
        "servers", {**item, "protection": {"delete": False, "rebuild": False}}
    )
    assert select_expired([unprotected], TODAY).expired == [unprotected]


@pytest.mark.parametrize("kind", ["firewalls", "ssh_keys"])
def test_firewalls_and_ssh_keys_have_no_protection_field_and_can_go(kind: str) -> None:
    """Hetzner has no delete protection for them: no field means none."""
    resource = CloudResource.from_api(kind, {"id": 7, "name": "k", "labels": labels()})
    assert not resource.delete_protected
    assert select_expired([resource], TODAY).expired == [resource]
    guarded = CloudResource.from_api(
        kind, {"id": 7, "name": "k", "labels": labels(), "protection": {"delete": True}}
    )
    assert select_expired([guarded], TODAY).expired == []


def firewall(applied_to: list[dict[str, Any]]) -> CloudResource:
    item = {"id": 31, "name": "fw", "labels": labels(), "applied_to": applied_to}
    return CloudResource.from_api("firewalls", item)


def test_a_firewall_goes_only_once_nothing_is_left_applied() -> None:
    on_server = {"type": "server", "server": {"id": 1}}
    by_selector = {"type": "label_selector", "label_selector": {"selector": "x=y"}}
    applied = firewall([on_server])
    (verdict,) = select_expired([applied], TODAY).kept
    assert verdict.reason == "expired, but still applied to server 1"
    assert select_expired([applied], TODAY, servers_gone={1}).expired == [applied]
    (verdict,) = select_expired([firewall([on_server, by_selector])], TODAY, servers_gone={1}).kept
    assert verdict.reason == "expired, but still applied to a label selector"


def test_a_stack_whose_server_stays_keeps_its_firewalls_and_keys() -> None:
    kinds = ["servers", "volumes", "primary_ips", "firewalls", "ssh_keys"]
    fleet = [CloudResource(kind, i, f"r{i}", labels(), False) for i, kind in enumerate(kinds)]
    selection = select_expired(fleet, TODAY, servers_left={"pr-12"})
    assert [r.kind for r in selection.expired] == ["servers", "volumes", "primary_ips"]
    assert {v.reason for v in selection.kept} == {"the server of pr-12 is still there"}
    assert len(select_expired(fleet, TODAY, servers_left={"pr-99"}).expired) == 5


# --- backups: a throwaway shares nothing with dev's ----------------------------


def _throwaway_run(stack: str) -> tuple[dict[str, str], Run]:
    config, secret_keys = stack_config(
        "dev", secrets={"backupHeartbeatUrl": "https://hc-ping.com/dev-heartbeat"}
    )
    config.update(throwaway.wire(throwaway_config(stack, config, TODAY)))
    secret_keys.discard("mailstack:backupHeartbeatUrl")  # set-all --plaintext writes it
    return config, run_program(stack, config, secret_keys)


@pytest.mark.parametrize("stack", ["pr-12", "tw-jane-20260310-ab12"])
def test_a_throwaway_never_shares_devs_repository_host_or_heartbeat(stack: str) -> None:
    dev_config, dev_keys = stack_config(
        "dev", secrets={"backupHeartbeatUrl": "https://hc-ping.com/dev-heartbeat"}
    )
    dev = run_program("dev", dev_config, dev_keys)
    _, run = _throwaway_run(stack)
    dev_conf = dev.artifacts["backup/backup.conf"].text
    conf = run.artifacts["backup/backup.conf"].text

    def value(text: str, var: str) -> str:
        (line,) = [line for line in text.splitlines() if line.startswith(f"{var}=")]
        return line.split("=", 1)[1]

    assert value(conf, "BACKUP_HOSTNAME") == f"mailstack-{stack}"
    assert value(dev_conf, "BACKUP_HOSTNAME") == "mailstack-dev"
    assert value(conf, "RESTIC_REPOSITORY") == throwaway.REPOSITORY
    assert value(conf, "RESTIC_REPOSITORY") != value(dev_conf, "RESTIC_REPOSITORY")
    assert value(conf, "BACKUP_HEARTBEAT_URL") == "''"
    assert value(conf, "BACKUP_CREDENTIALS_FILE") == "''"  # dev's object-store keys stay off it
    assert "backup-credentials" not in {r.name for r in run.registrations}
    assert "dev-heartbeat" not in json.dumps([r.inputs for r in run.registrations])


def test_a_throwaway_has_the_restore_tools_but_no_timer() -> None:
    """No scheduled backup; `mailstack-restore --from` (the drill) still works."""
    _, run = _throwaway_run("pr-12")
    names = {r.name for r in run.of_type("command:remote:Command")}
    assert {"backup-script-restore", "backup-config", "backup-password", "backup-init"} <= names
    assert not [n for n in names if n.startswith("backup-unit-") or n == "backup-timers"]
    assert not [a for a in run.artifacts if a.startswith("backup/systemd/")]
    assert run.outputs["backup"]["scheduled"] is False
    assert run.outputs["backup"]["status"]["message"].startswith("no scheduled backups")
    assert "backupHealthUrl" not in run.outputs  # nothing publishes a status there


def test_the_throwaway_repository_is_on_the_servers_data_volume() -> None:
    from common.layout import SERVER_DATA_DIR as DATA_DIR

    assert throwaway.REPOSITORY.startswith(f"{DATA_DIR}/")


_API_KINDS = {
    "hcloud:index/server:Server": "servers",
    "hcloud:index/volume:Volume": "volumes",
    "hcloud:index/primaryIp:PrimaryIp": "primary_ips",
    "hcloud:index/firewall:Firewall": "firewalls",
    "hcloud:index/sshKey:SshKey": "ssh_keys",
}


def _as_the_api_lists_them(run: Run) -> list[CloudResource]:
    """The program's Hetzner resources as the reaper reads them back from the API:
    name, labels and delete protection as the program set them (firewalls and
    SSH keys have no protection field)."""
    found = []
    for n, reg in enumerate(r for r in run.registrations if r.type in _API_KINDS):
        kind = _API_KINDS[reg.type]
        item: dict[str, Any] = {
            "id": n + 1,
            "name": reg.inputs.get("name", reg.name),
            "labels": reg.inputs.get("labels", {}),
        }
        if kind not in throwaway.UNPROTECTABLE_KINDS:
            item["protection"] = {"delete": bool(reg.inputs.get("deleteProtection", False))}
        found.append(CloudResource.from_api(kind, item))
    assert {r.kind for r in found} == set(_API_KINDS.values())
    return found


def test_the_reaper_keeps_everything_the_prod_program_makes_even_long_expired() -> None:
    config, secret_keys = stack_config("prod")
    prod = _as_the_api_lists_them(run_program("prod", config, secret_keys))
    selection = select_expired(prod, date(2999, 1, 1), servers_gone=[r.id for r in prod])
    assert selection.expired == []
    assert len(selection.kept) == len(prod)


def test_the_reaper_takes_everything_an_expired_throwaway_made() -> None:
    """The control for the test above: the same reading selects a throwaway's
    resources, so an empty selection for prod is the labels' doing."""
    config, secret_keys = stack_config("dev")
    config.update(throwaway.wire(throwaway_config("pr-12", config, TODAY)))
    made = _as_the_api_lists_them(run_program("pr-12", config, secret_keys))
    selection = select_expired(made, date(2999, 1, 1), servers_gone=[r.id for r in made])
    assert selection.expired == made
