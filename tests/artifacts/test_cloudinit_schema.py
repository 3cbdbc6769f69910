"""Rendered user data of every Hetzner stack and image, checked by the real tools.

`cloud-init schema` validates each document; shellcheck the first-boot steps,
the wait script and the access step (both its command and the root script it
carries); `apt-config` the upgrade settings (sshd, UFW and fail2ban
check theirs on a booted host: tests/e2e/test_cloudinit_hardening.py).
Golden copies under tests/golden/cloud-init/ make any change a reviewable
diff: `make golden` rewrites them.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from common.layout import SERVER_DATA_DIR as DATA_DIR
from components.access import HEREDOC_END
from components.cloudinit import render_wait_script
from components.server import ACCESS_ARTIFACT, USER_DATA_ARTIFACT
from tests.artifacts import golden
from tests.conftest import stack_config
from tools.harness import Run, run_program

GOLDEN = golden.GOLDEN / "cloud-init"
VARIANTS = golden.CLOUD_INIT_VARIANTS
HETZNER_USER_DATA_LIMIT = 32 * 1024


@cache
def _run(variant: str) -> Run:
    stack, changes = VARIANTS[variant]
    config, secret_keys = stack_config(stack, set=changes)
    return run_program(stack, config, secret_keys)


def user_data(variant: str) -> str:
    return _run(variant).artifacts[USER_DATA_ARTIFACT].text


def _files(variant: str) -> dict[str, str]:
    doc = yaml.safe_load(user_data(variant))
    return {f["path"]: f["content"] for f in doc["write_files"]}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_user_data_passes_the_cloud_init_schema(variant: str, tmp_path: Path) -> None:
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data(variant))
    result = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_user_data_fits_hetzners_size_limit(variant: str) -> None:
    # Hetzner refuses user data over 32 KiB when it creates the server.
    assert len(user_data(variant).encode()) <= HETZNER_USER_DATA_LIMIT


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_user_data_matches_its_golden_copy(variant: str) -> None:
    path = GOLDEN / f"{variant}.yaml"
    assert path.exists(), "no golden copy: run `make golden`"
    assert user_data(variant) == path.read_text(), f"{path} differs: review, then `make golden`"


@pytest.mark.parametrize("variant", ["prod-debian-12", "dev-ubuntu-24.04-tailscale"])
def test_first_boot_scripts_pass_shellcheck(variant: str, tmp_path: Path) -> None:
    scripts = {p: c for p, c in _files(variant).items() if p.endswith(".sh")}
    scripts["wait.sh"] = render_wait_script(
        DATA_DIR, (f"{DATA_DIR}/compose", f"{DATA_DIR}/volumes")
    )
    paths = []
    for index, content in enumerate(scripts.values()):
        path = tmp_path / f"{index}.sh"
        path.write_text(content)
        paths.append(str(path))
    result = subprocess.run(["shellcheck", "--shell=bash", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("variant", ["prod-debian-12", "dev-ubuntu-24.04-tailscale"])
def test_the_access_step_passes_shellcheck(variant: str, tmp_path: Path) -> None:
    command = _run(variant).artifacts[ACCESS_ARTIFACT].text
    # The root script travels as a quoted heredoc, which shellcheck reads as
    # data: check it on its own too.
    script = command.split(f"<<'{HEREDOC_END}'\n", 1)[1].split(f"\n{HEREDOC_END}\n", 1)[0]
    assert script.startswith("#!/bin/bash\n") and "ufw allow" in script
    (tmp_path / "command.sh").write_text(command)
    (tmp_path / "access.sh").write_text(script + "\n")
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", "command.sh", "access.sh"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def _apt_config(variant: str, tmp_path: Path) -> str:
    path = tmp_path / "52mailstack-unattended-upgrades"
    path.write_text(_files(variant)["/etc/apt/apt.conf.d/52mailstack-unattended-upgrades"])
    result = subprocess.run(["apt-config", "-c", str(path), "dump"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_apt_reads_the_unattended_upgrade_settings(tmp_path: Path) -> None:
    dump = _apt_config("prod-debian-12", tmp_path)
    assert 'Unattended-Upgrade::Automatic-Reboot-Time "04:00";' in dump
    # Docker's own repository (Debian 12) is followed too, not only security.
    patterns = [line for line in dump.splitlines() if "Origins-Pattern:: " in line]
    assert patterns == ['Unattended-Upgrade::Origins-Pattern:: "site=download.docker.com";']


def test_upgrades_follow_tailscale_only_where_it_is_installed(tmp_path: Path) -> None:
    with_tailnet = _apt_config("dev-ubuntu-24.04-tailscale", tmp_path)
    assert 'Origins-Pattern:: "site=pkgs.tailscale.com";' in with_tailnet
    assert "Origins-Pattern" not in _apt_config("dev-ubuntu-24.04", tmp_path)
