"""The rendered sshd drop-in, checked against ssh-audit's own policies and by sshd.

Each image's algorithm lists must be exactly those of ssh-audit's built-in
hardened policy for its OS (the policy compares lists in order), taken from
the installed ssh-audit, not copied here. Debian 13 keeps two curve25519 key
exchanges after the policy's post-quantum ones for Go's x/crypto/ssh (see
assets/cloud-init/images.yaml). This machine's sshd (Debian 12's OpenSSH 9.2)
parses the Debian 12 drop-in in test mode; the booted host runs it in
tests/e2e/test_cloudinit_hardening.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from ssh_audit.builtin_policies import BUILTIN_POLICIES

from tests.artifacts.test_cloudinit_schema import user_data

DROP_IN = "/etc/ssh/sshd_config.d/10-mailstack.conf"
POLICIES = {
    "debian-12": "Hardened Debian 12 (version 3)",
    "debian-13": "Hardened Debian 13 (version 1)",
    "ubuntu-24.04": "Hardened Ubuntu Server 24.04 LTS (version 2)",
}
GO_FALLBACK = ["curve25519-sha256", "curve25519-sha256@libssh.org"]
# Announced by sshd itself, never configured.
PSEUDO_KEX = {"ext-info-s", "kex-strict-s-v00@openssh.com"}


def _drop_in(image: str) -> str:
    doc = yaml.safe_load(user_data(f"prod-{image}"))
    (content,) = [f["content"] for f in doc["write_files"] if f["path"] == DROP_IN]
    assert isinstance(content, str)
    return content


def _settings(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if line and line[0] != "#")


@pytest.mark.parametrize("image", sorted(POLICIES))
def test_algorithms_are_those_of_the_os_hardened_policy(image: str) -> None:
    policy = BUILTIN_POLICIES[POLICIES[image]]
    settings = _settings(_drop_in(image))
    kex = [k for k in policy["kex"] if k not in PSEUDO_KEX]
    if image == "debian-13":
        kex += GO_FALLBACK
    assert settings["KexAlgorithms"].split(",") == kex
    assert settings["Ciphers"].split(",") == policy["ciphers"]
    assert settings["MACs"].split(",") == policy["macs"]
    assert settings["HostKeyAlgorithms"].split(",") == policy["host_keys"]
    assert POLICIES[image] in _drop_in(image)


def test_debian_12s_sshd_accepts_the_drop_in(tmp_path: Path) -> None:
    text = _drop_in("debian-12")
    for kind in ("ed25519", "rsa"):
        key = tmp_path / f"ssh_host_{kind}_key"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
        text = text.replace(f"/etc/ssh/ssh_host_{kind}_key", str(key))
    config = tmp_path / "sshd_config"
    config.write_text(text)
    # sshd insists on its privilege separation directory, even to parse.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    # -T prints the effective settings: the ones sshd would really run with.
    result = subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", str(config), "-C", "user=ops,host=h,addr=192.0.2.1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    effective = set(result.stdout.splitlines())
    assert {
        "persourcemaxstartups 5",
        "maxstartups 10:30:60",
        "hostkeyalgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
        "allowtcpforwarding no",
        "compression no",
    } <= effective
