"""The access renderers: one source for the first boot and the access step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.access import (
    AccessParams,
    access_step_command,
    bootstrap_access,
    render_access_script,
    render_fail2ban_jail,
    render_ufw_step,
    ufw_rules,
    ufw_tag,
)
from components.firewall import WORLD, inbound_rules

DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyForUnitTests000000000000000000"
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@laptop"


def _params(cidrs: tuple[str, ...] = ("198.51.100.7/32",), **changes: object) -> AccessParams:
    values: dict[str, object] = {
        "admin_user": "ops",
        "ssh_public_keys": (ADMIN_KEY, DEPLOY_KEY),
        "rules": inbound_rules(cidrs),
        "admin_cidrs": cidrs,
    }
    values.update(changes)
    return AccessParams(**values)  # type: ignore[arg-type]


def test_the_bootstrap_carries_none_of_the_access_settings() -> None:
    first_boot = bootstrap_access("ops", DEPLOY_KEY + "\n", tailscale=False)
    assert first_boot.ssh_public_keys == (DEPLOY_KEY,)
    assert first_boot.admin_cidrs == ()
    assert first_boot.rules["in-tcp-22"].sources == WORLD
    assert "ignoreip = 127.0.0.1/8 ::1\n" in render_fail2ban_jail(first_boot)


def test_the_step_and_the_first_boot_render_the_same_ufw_rules() -> None:
    params = _params(tailscale=True)
    rules = ufw_rules(params)
    tag = ufw_tag(rules)
    expected = [f"ufw allow {rule.spec} comment '{rule.key} {tag}'" for rule in rules]
    for text in (render_ufw_step(params), render_access_script(params)):
        assert [line for line in text.splitlines() if line.startswith("ufw allow")] == expected
    assert rules[-1].spec == "in on tailscale0 proto tcp to any port 22"
    assert ufw_tag(ufw_rules(_params(("203.0.113.0/24",)))) != tag


def test_the_access_script_refuses_to_leave_nobody_a_key() -> None:
    with pytest.raises(ValueError, match="at least one SSH public key"):
        render_access_script(_params(ssh_public_keys=()))


def test_the_command_hands_the_client_address_to_the_root_script() -> None:
    script = render_access_script(_params())
    command = access_step_command(script)
    assert script in command
    assert command.rstrip().endswith('sudo -n bash "$script" "${client%% *}"')
    with pytest.raises(ValueError, match="MAILSTACK_ACCESS"):
        access_step_command("echo\nMAILSTACK_ACCESS\n")


FAKE_UFW = """#!/bin/bash
echo "$*" >>"$UFW_LOG"
case "$*" in
  status) echo "Status: active" ;;
  "status numbered") cat "$UFW_STATUS" ;;
esac
"""


def _run_ufw_step(tmp_path: Path, params: AccessParams, status: str) -> list[str]:
    """Run the rendered UFW step against a fake `ufw` that shows `status`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ufw").write_text(FAKE_UFW)
    (bin_dir / "ufw").chmod(0o755)
    (tmp_path / "status").write_text(status)
    script = tmp_path / "ufw.sh"
    script.write_text(render_ufw_step(params))
    result = subprocess.run(
        ["bash", str(script)],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "UFW_LOG": str(tmp_path / "log"),
            "UFW_STATUS": str(tmp_path / "status"),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return (tmp_path / "log").read_text().splitlines()


def test_new_rules_go_in_before_the_old_ones_come_out(tmp_path: Path) -> None:
    params = _params(("203.0.113.0/24",))
    tag = ufw_tag(ufw_rules(params))
    status = (
        "Status: active\n\n     To     Action      From\n"
        "[ 1] 22/tcp   ALLOW IN    198.51.100.7   # in-tcp-22\n"  # an older first boot's
        f"[ 2] 22/tcp   ALLOW IN    203.0.113.0/24   # in-tcp-22 {tag}\n"
        "[ 3] 8080/tcp ALLOW IN    Anywhere       # in-tcp-8080 mailstack-0123456789\n"
        "[ 4] 5000/tcp ALLOW IN    Anywhere       # kept by hand\n"
        f"[ 5] 80/tcp (v6)  ALLOW IN  Anywhere (v6)  # in-tcp-80 {tag}\n"
        "[ 6] 22/tcp (v6)  ALLOW IN  Anywhere (v6)  # in-tcp-22 mailstack-0123456789\n"
    )
    calls = _run_ufw_step(tmp_path, params, status)
    allows = [i for i, call in enumerate(calls) if call.startswith("allow ")]
    deletes = [call for call in calls if call.startswith("--force delete")]
    # Every new rule is in before anything is deleted; only earlier sets' go,
    # highest number first; the hand-made rule and the current set stay.
    assert allows and max(allows) < calls.index(deletes[0])
    assert deletes == ["--force delete 6", "--force delete 3", "--force delete 1"]
    assert "--force enable" not in calls  # already active: never reloaded


def test_the_access_step_refuses_a_script_its_heredoc_cannot_carry() -> None:
    for script in ("echo a\nMAILSTACK_ACCESS\necho b\n", "echo a"):
        with pytest.raises(ValueError, match="MAILSTACK_ACCESS"):
            access_step_command(script)
