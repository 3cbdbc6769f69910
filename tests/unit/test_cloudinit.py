"""The cloud-init renderer: what the first boot does, per image and option."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.access import AccessParams, ufw_rules, ufw_tag
from components.cloudinit import (
    ASSETS,
    STEPS,
    STEPS_DIR,
    CloudInitParams,
    render_user_data,
    render_wait_script,
    tailscale_install,
)
from components.firewall import inbound_rules
from mailstack.config import ServerImage, StackConfig, validate
from mailstack.wiring import server_args
from tests.conftest import stack_config

DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKeyForUnitTests000000000000000000"


ACCESS_KEYS = ("admin_user", "ssh_public_keys", "rules", "admin_cidrs", "tailscale")


def _params(**changes: Any) -> CloudInitParams:
    """Unit-test params; the access keys among `changes` go into its AccessParams."""
    access: dict[str, Any] = {
        "admin_user": "ops",
        "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@laptop"],
        "rules": inbound_rules(["198.51.100.7/32", "2001:db8:7::/48"]),
        "admin_cidrs": ["198.51.100.7/32", "2001:db8:7::/48"],
        "tailscale": False,
    }
    values: dict[str, Any] = {
        "hostname": "mail.example.com",
        "image": ServerImage.UBUNTU_2404,
        "data_dir": "/srv/mailstack",
        "volume_device": "/dev/disk/by-id/scsi-0HC_Volume_42",
        "volume_label": "mailstack-data",
    }
    for key, value in changes.items():
        (access if key in ACCESS_KEYS else values)[key] = value
    return CloudInitParams(access=AccessParams(**access), **values)


def _doc(params: CloudInitParams) -> dict[str, Any]:
    text = render_user_data(params)
    assert text.startswith("#cloud-config\n")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def _file(doc: dict[str, Any], path: str) -> str:
    (content,) = [f["content"] for f in doc["write_files"] if f["path"] == path]
    assert isinstance(content, str)
    return content


def test_admin_user_has_keys_sudo_and_no_password() -> None:
    doc = _doc(_params())
    (user,) = doc["users"]
    assert user["name"] == "ops" and user["lock_passwd"] is True
    assert user["ssh_authorized_keys"] == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@laptop"
    ]
    assert "sudo" in user["groups"]
    # The services' deploy steps run `docker` as this user, without sudo.
    assert "docker" in user["groups"]
    assert doc["disable_root"] is True and doc["ssh_pwauth"] is False


def test_sshd_drop_in_refuses_root_passwords_and_forwarding() -> None:
    sshd = _file(_doc(_params()), "/etc/ssh/sshd_config.d/10-mailstack.conf")
    settings_ = dict(line.split(" ", 1) for line in sshd.splitlines() if line and line[0] != "#")
    assert settings_ == {
        **settings_,
        "PermitRootLogin": "no",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "X11Forwarding": "no",
        "AllowAgentForwarding": "no",
        "AllowUsers": "ops",
        "MaxAuthTries": "3",
    }


def test_ufw_mirrors_every_firewall_rule_and_keeps_ssh_to_admins() -> None:
    params = _params(rules=inbound_rules(["198.51.100.7/32"], [8443]))
    ufw = _file(_doc(params), f"{STEPS_DIR}/ufw.sh")
    allows = [line for line in ufw.splitlines() if line.startswith("ufw allow")]
    tag = ufw_tag(ufw_rules(params.access))
    assert allows == [
        f"ufw allow proto tcp from 198.51.100.7/32 to any port 22 comment 'in-tcp-22 {tag}'",
        f"ufw allow proto tcp to any port 80 comment 'in-tcp-80 {tag}'",
        f"ufw allow proto tcp to any port 443 comment 'in-tcp-443 {tag}'",
        f"ufw allow proto tcp to any port 8443 comment 'in-tcp-8443 {tag}'",
    ]
    assert "ufw default deny incoming" in ufw and "ufw --force enable" in ufw


def test_tailscale_adds_its_pinned_repository_and_ssh_on_the_tailnet() -> None:
    plain, tailnet = _doc(_params()), _doc(_params(tailscale=True))
    assert "tailscale" not in plain["packages"] and "sources" not in plain["apt"]
    assert "tailscale" in tailnet["packages"]
    source = tailnet["apt"]["sources"]["tailscale.list"]
    assert "pkgs.tailscale.com/stable/ubuntu/noble noble main" in source["source"]
    assert "in on tailscale0" in _file(tailnet, f"{STEPS_DIR}/ufw.sh")


def test_each_image_gets_docker_and_compose_v2_from_where_it_has_them() -> None:
    expected = {
        ServerImage.UBUNTU_2404: {"docker.io", "docker-compose-v2"},
        ServerImage.DEBIAN_13: {"docker.io", "docker-compose"},
        ServerImage.DEBIAN_12: {"docker-ce", "docker-compose-plugin"},
    }
    for image, packages in expected.items():
        doc = _doc(_params(image=image))
        assert packages <= set(doc["packages"]), image
        has_docker_repo = "docker.list" in doc["apt"].get("sources", {})
        assert has_docker_repo == (image is ServerImage.DEBIAN_12)


def test_third_party_repositories_are_pinned_by_full_fingerprint() -> None:
    doc = _doc(_params(image=ServerImage.DEBIAN_12, tailscale=True))
    for name, source in doc["apt"]["sources"].items():
        # Short key ids can be forged; a full fingerprint cannot.
        assert re.fullmatch(r"[0-9A-F]{40}", source["keyid"]), name
        assert "[signed-by=$KEY_FILE]" in source["source"], name
        assert source["source"].split()[2].startswith("https://"), name
    assert doc["apt"]["preserve_sources_list"] is True


def test_every_step_runs_in_order_from_a_root_only_script() -> None:
    doc = _doc(_params())
    assert doc["runcmd"] == [[f"{STEPS_DIR}/firstboot.sh", *STEPS]]
    scripts = [f for f in doc["write_files"] if f["path"].startswith(STEPS_DIR)]
    assert sorted(f["path"].rsplit("/", 1)[1] for f in scripts) == sorted(
        [*(f"{step}.sh" for step in STEPS), "firstboot.sh"]
    )
    assert all(f["permissions"] == "0755" and f["owner"] == "root:root" for f in scripts)


def _steps_dir(tmp_path: Path, steps: dict[str, int]) -> Path:
    """The real firstboot.sh beside stand-in steps that log their name and exit."""
    steps_dir = tmp_path / "steps"
    steps_dir.mkdir()
    runner = steps_dir / "firstboot.sh"
    runner.write_text(_file(_doc(_params()), f"{STEPS_DIR}/firstboot.sh"))
    runner.chmod(0o755)
    for step, code in steps.items():
        script = steps_dir / f"{step}.sh"
        script.write_text(f"#!/bin/sh\necho {step} >> {tmp_path}/ran\nexit {code}\n")
        script.chmod(0o755)
    return steps_dir


def test_a_failed_step_fails_the_boot_after_the_others_ran(tmp_path: Path) -> None:
    steps = {"ssh": 0, "ufw": 3, "fail2ban": 0}
    result = subprocess.run(
        [_steps_dir(tmp_path, steps) / "firstboot.sh", *steps],
        env={**os.environ, "MAILSTACK_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "failed steps: ufw" in result.stderr
    assert (tmp_path / "ran").read_text().split() == ["ssh", "ufw", "fail2ban"]
    assert not (tmp_path / "state" / "firstboot.done").exists()


def test_a_clean_boot_leaves_the_marker_the_wait_step_requires(tmp_path: Path) -> None:
    steps = {"ssh": 0, "ufw": 0}
    result = subprocess.run(
        [_steps_dir(tmp_path, steps) / "firstboot.sh", *steps],
        env={**os.environ, "MAILSTACK_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state" / "firstboot.done").is_file()


@pytest.mark.parametrize(
    ("cloud_init_status", "marker", "expected"),
    [(0, True, 0), (2, True, 0), (0, False, 1), (1, True, 1)],
    ids=["done", "recoverable", "a step failed", "cloud-init failed"],
)
def test_the_wait_step_needs_cloud_init_and_every_mailstack_step(
    tmp_path: Path, cloud_init_status: int, marker: bool, expected: int
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sudo_log = tmp_path / "sudo.log"
    fakes = {
        "cloud-init": f"exit {cloud_init_status}",
        "sudo": f'echo "$*" >> {sudo_log}',
        "mountpoint": "exit 0",
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    marker_file = tmp_path / "firstboot.done"
    if marker:
        marker_file.write_text("2026-12-02T00:00:00Z\n")
    script = tmp_path / "wait.sh"
    deploy_dirs = ("/srv/mailstack/compose", "/srv/mailstack/volumes")
    script.write_text(render_wait_script("/srv/mailstack", deploy_dirs, str(marker_file)))
    result = subprocess.run(
        ["bash", str(script)],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == expected, result.stderr
    # Only a finished boot hands the deploy user its folders on the volume.
    handed = sudo_log.exists() and "install -d -m 0750 -o" in sudo_log.read_text()
    assert handed == (expected == 0)
    if handed:
        assert sudo_log.read_text().rstrip().endswith(" ".join(deploy_dirs))


def test_docker_waits_for_the_data_volume_after_a_reboot() -> None:
    volume = _file(_doc(_params()), f"{STEPS_DIR}/volume.sh")
    assert "RequiresMountsFor=$mountpoint" in volume
    # Written after the mount succeeded, never before it.
    assert volume.index('mount "$mountpoint"') < volume.index("RequiresMountsFor")


def test_volume_is_mounted_by_label_and_never_blocks_boot() -> None:
    doc = _doc(_params())
    (mount,) = doc["mounts"]
    assert mount[:3] == ["LABEL=mailstack-data", "/srv/mailstack", "ext4"]
    assert "nofail" in mount[3].split(",")
    volume = _file(doc, f"{STEPS_DIR}/volume.sh")
    assert "device=/dev/disk/by-id/scsi-0HC_Volume_42" in volume


def test_swap_follows_the_configured_size() -> None:
    assert _doc(_params(swap_mib=1024))["swap"]["size"] == "1024M"
    assert "swap" not in _doc(_params(swap_mib=0))


def test_fail2ban_never_bans_the_admin_networks() -> None:
    jail = _file(_doc(_params()), "/etc/fail2ban/jail.d/50-mailstack-sshd.local")
    assert "ignoreip = 127.0.0.1/8 ::1 198.51.100.7/32 2001:db8:7::/48" in jail
    assert "backend = systemd" in jail


def _user_data(config: StackConfig) -> str:
    return render_user_data(server_args(config).cloud_init(DEPLOY_KEY, "42"))


_APP_AND_SERVICES = st.fixed_dictionaries(
    # Images are always given: some presets need them, and they are app settings too.
    {
        "appImage": st.sampled_from(["ghcr.io/acme/app:1.2.3", "listmonk/listmonk:v4.1.0"]),
        "appWebImage": st.sampled_from(["ghcr.io/acme/web:2.0.1", "nginx:1.27.3"]),
    },
    optional={
        "app": st.sampled_from(["listmonk", "mailwizz", "transactional-api", "web-api"]),
        "appPort": st.integers(min_value=1, max_value=65535),
        "appHealthPath": st.sampled_from(["/", "/health", "/api/ping"]),
        "appAdminPaths": st.lists(st.sampled_from(["/admin", "/api/admin"]), unique=True),
        "redis": st.booleans(),
        "storage": st.booleans(),
        "monitoring": st.booleans(),
    },
)


@settings(max_examples=25, deadline=None)
@given(changes=_APP_AND_SERVICES)
def test_app_and_service_settings_never_change_the_user_data(changes: dict[str, Any]) -> None:
    for stack in ("dev", "prod"):
        base = validate(*stack_config(stack))
        changed = validate(*stack_config(stack, set=changes))
        assert _user_data(changed) == _user_data(base)


_ACCESS = st.fixed_dictionaries(
    {},
    optional={
        "adminCidrs": st.lists(
            st.sampled_from(["198.51.100.7/32", "203.0.113.0/24", "2001:db8:7::/48"]),
            min_size=1,
            unique=True,
        ),
        "sshPublicKeys": st.lists(
            st.sampled_from(
                [
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin" + "0" * 38 + " admin@laptop",
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther" + "0" * 38 + " other@desk",
                ]
            ),
            min_size=1,
            unique=True,
        ),
        "firewallExtraTcpPorts": st.lists(st.sampled_from([8080, 8443]), unique=True),
    },
)


@settings(max_examples=25, deadline=None)
@given(changes=_ACCESS)
def test_access_settings_never_change_the_user_data(changes: dict[str, Any]) -> None:
    # The access step applies them (components/access.py); the first boot only
    # bootstraps, so a replaced server never boots with stale networks.
    for stack in ("dev", "prod"):
        base = validate(*stack_config(stack))
        changed = validate(*stack_config(stack, set=changes))
        assert _user_data(changed) == _user_data(base)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
@pytest.mark.parametrize("image", list(ServerImage))
def test_tailscale_is_installed_by_its_step_when_turned_on_after_the_first_boot(
    image: ServerImage, tmp_path: Path
) -> None:
    """The server never reads its user data again: the join step installs it."""
    script = tailscale_install(image)
    values = yaml.safe_load((ASSETS / "images.yaml").read_text())[image.value]
    assert f"stable/{values['distro']} {values['codename']} main" in script
    assert script.startswith("set -o pipefail; if ! command -v tailscale")
    path = tmp_path / "step.sh"
    path.write_text(script + "\n")
    done = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    # Already installed: nothing is fetched (a stand-in `tailscale` on PATH).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tailscale", "curl", "sudo"):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho {tool} >> {tmp_path}/calls\n")
        (bin_dir / tool).chmod(0o755)
    subprocess.run(["bash", "-c", script], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=True)
    assert not (tmp_path / "calls").exists()
