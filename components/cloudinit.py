"""Render the first-boot cloud-init user data of a server (pure: no Pulumi inside).

The document is assembled as data and dumped as YAML, so no value can break
its structure; the files it writes and the first-boot steps it runs live in
`assets/cloud-init/` (`.j2` files are Jinja templates, the rest are copied).
User data is readable from inside the VM and kept in Pulumi state, so nothing
secret may reach this module: its inputs are names, public keys and sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from common import encode
from common.enums import ServerImage
from components.access import JAIL_PATH, AccessParams, render_fail2ban_jail, render_ufw_step
from components.templates import environment

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "cloud-init"
STEPS_DIR = "/usr/local/lib/mailstack/firstboot"
STEPS = ("ssh", "system", "journald", "time", "ufw", "fail2ban", "docker", "volume")
"""First-boot steps in the order `firstboot.sh` runs them (one script each)."""
FIRSTBOOT_MARKER = "/var/lib/mailstack/firstboot.done"
"""Written by `firstboot.sh` once every step succeeded; the wait step requires it."""
BASE_PACKAGES = (
    "ufw",
    "fail2ban",
    "python3-systemd",
    "unattended-upgrades",
    "apt-listchanges",
    "ca-certificates",
    "curl",
    "needrestart",
    "libpam-tmpdir",
    "libpam-pwquality",
    "sysstat",
    "debsums",
    "apt-show-versions",
)


@dataclass(frozen=True)
class CloudInitParams:
    """Everything the first boot needs; public values only."""

    hostname: str
    """Fully qualified host name (the mail host, which rDNS also names)."""
    image: ServerImage
    access: AccessParams
    """Who may reach the host at first boot (servers: `bootstrap_access`, the
    deploy key only; the access step then writes the stack's own)."""
    data_dir: str
    volume_device: str
    """Block device of the data volume, e.g. /dev/disk/by-id/scsi-0HC_Volume_123."""
    volume_label: str
    """Filesystem label the data volume is mounted by."""
    swap_mib: int = 2048
    reboot_time: str = "04:00"
    timezone: str = "Etc/UTC"


def _literal_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Multi-line strings as `|` blocks, so reviewers read files, not escapes."""
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _literal_str)


@cache
def _images() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ASSETS / "images.yaml").read_text())
    return data


def _asset(name: str, context: Mapping[str, Any]) -> str:
    """An asset file's text; `.j2` files are rendered with `context` first."""
    path = ASSETS / name
    if path.exists():
        return path.read_text()
    return environment(ASSETS).get_template(f"{name}.j2").render(**context)


def _apt_sources(params: CloudInitParams) -> dict[str, Any]:
    image = _images()[params.image.value]
    sources: dict[str, Any] = {}
    if image["docker_apt_source"]:
        sources["docker.list"] = dict(image["docker_apt_source"])
    if params.access.tailscale:
        tailscale = dict(_images()["tailscale_apt_source"])
        tailscale["source"] = tailscale["source"].format(**image)
        sources["tailscale.list"] = tailscale
    return sources


def tailscale_install(image: ServerImage) -> str:
    """Shell that installs Tailscale from its repository unless it is there.

    The first boot installs it only when `tailscale` was on at creation, and the
    server never reads its user data again: turning it on later goes through
    this. The signing key comes over HTTPS from Tailscale's own host, as their
    install instructions do (the first boot pins it by id on a keyserver).
    """
    values = _images()[image.value]
    repo = f"https://pkgs.tailscale.com/stable/{values['distro']}"
    keyring = "/usr/share/keyrings/tailscale-archive-keyring.gpg"
    source = f"deb [signed-by={keyring}] {repo} {values['codename']} main"
    apt = "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600"
    return (
        "set -o pipefail; if ! command -v tailscale >/dev/null 2>&1; then "
        f"curl -fsSL {repo}/{values['codename']}.noarmor.gpg | sudo -n tee {keyring} >/dev/null"
        f" && echo '{source}' | sudo -n tee /etc/apt/sources.list.d/tailscale.list"
        f" >/dev/null && {apt} update && {apt} install -y tailscale; fi"
    )


def _write_files(params: CloudInitParams, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    # These two come from components.access, not assets/cloud-init (the access
    # step rewrites them after the boot).
    rendered = {
        JAIL_PATH: render_fail2ban_jail(params.access),
        f"{STEPS_DIR}/ufw.sh": render_ufw_step(params.access),
    }
    files = [
        ("/etc/ssh/sshd_config.d/10-mailstack.conf", "files/sshd-hardening.conf", "0644"),
        (JAIL_PATH, "", "0644"),
        (
            "/etc/apt/apt.conf.d/52mailstack-unattended-upgrades",
            "files/unattended-upgrades.conf",
            "0644",
        ),
        ("/etc/docker/daemon.json", "files/daemon.json", "0644"),
        ("/etc/systemd/journald.conf.d/50-mailstack.conf", "files/journald.conf", "0644"),
        ("/etc/systemd/timesyncd.conf.d/50-mailstack.conf", "files/timesyncd.conf", "0644"),
        ("/etc/sysctl.d/60-mailstack-hardening.conf", "files/sysctl.conf", "0644"),
        ("/etc/security/limits.d/60-mailstack-coredump.conf", "files/limits.conf", "0644"),
        ("/etc/systemd/coredump.conf.d/50-mailstack.conf", "files/coredump.conf", "0644"),
        ("/etc/needrestart/conf.d/50-mailstack.conf", "files/needrestart.conf", "0644"),
        ("/etc/modprobe.d/60-mailstack-hardening.conf", "files/modprobe.conf", "0644"),
        ("/etc/issue", "files/issue", "0644"),
        ("/etc/issue.net", "files/issue", "0644"),
    ]
    files += [(f"{STEPS_DIR}/{step}.sh", f"steps/{step}.sh", "0755") for step in STEPS]
    files.append((f"{STEPS_DIR}/firstboot.sh", "steps/firstboot.sh", "0755"))
    return [
        {
            "path": path,
            "owner": "root:root",
            "permissions": mode,
            "content": rendered[path] if path in rendered else _asset(name, context),
        }
        for path, name, mode in files
    ]


def render_user_data(params: CloudInitParams) -> str:
    """The `#cloud-config` document for a server's first boot."""
    image = _images()[params.image.value]
    context = {
        "admin_user": params.access.admin_user,
        "reboot_time": params.reboot_time,
        "tailscale": params.access.tailscale,
        "docker_repo": bool(image["docker_apt_source"]),
        "data_dir": params.data_dir,
        "volume_device": params.volume_device,
        "volume_label": params.volume_label,
        "ssh_policy": image["ssh_policy"],
        "ssh_kex": image["ssh_kex"],
        "ssh_macs": image["ssh_macs"],
    }
    packages = [*BASE_PACKAGES, *image["docker_packages"]]
    if params.access.tailscale:
        packages.append("tailscale")
    document: dict[str, Any] = {
        "hostname": params.hostname.split(".", 1)[0],
        "fqdn": params.hostname,
        "prefer_fqdn_over_hostname": True,
        "timezone": params.timezone,
        # Built into glibc: needs no locale generation, unlike cloud-init's en_US default.
        "locale": "C.UTF-8",
        "disable_root": True,
        "ssh_pwauth": False,
        # The image's host keys go; cloud-init makes ed25519, the ssh step RSA 4096.
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],
        "users": [
            {
                # cloud-init writes the name into a sudoers rule as it is.
                "name": encode.sudoers_user(params.access.admin_user),
                "gecos": "mailstack admin",
                # The deploy steps run `docker` as this user, without sudo (the
                # local stack runs the same scripts as the local user). The
                # group is root-equivalent, as the sudo rule below already is.
                # cloud-init creates it if the engine's package has not yet.
                "groups": ["sudo", "docker"],
                "shell": "/bin/bash",
                # Key-only logins have no password to type; automation needs sudo -n.
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": list(params.access.ssh_public_keys),
            }
        ],
        # Keep the image's mirrors (Hetzner's); only add the sources below.
        "apt": {"preserve_sources_list": True, "sources": _apt_sources(params)},
        "package_update": True,
        "package_upgrade": True,
        "packages": packages,
        "write_files": _write_files(params, context),
        "mounts": [
            [
                f"LABEL={params.volume_label}",
                params.data_dir,
                "ext4",
                "defaults,nofail,discard,x-systemd.device-timeout=60s",
                "0",
                "2",
            ]
        ],
        # One command: runcmd's exit status is only that of its last command.
        "runcmd": [[f"{STEPS_DIR}/firstboot.sh", *STEPS]],
    }
    if not document["apt"]["sources"]:
        del document["apt"]["sources"]
    if params.swap_mib:
        document["swap"] = {
            "filename": "/swapfile",
            "size": f"{params.swap_mib}M",
            "maxsize": f"{params.swap_mib}M",
        }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)
    return f"#cloud-config\n{body}"


def render_wait_script(
    data_dir: str, deploy_dirs: Sequence[str], marker: str = FIRSTBOOT_MARKER
) -> str:
    """The script that waits over SSH for the first boot (and the data volume),
    then gives the deploy user its folders on the volume (`deploy_dirs`)."""
    context = {"data_dir": data_dir, "marker": marker, "deploy_dirs": list(deploy_dirs)}
    return _asset("wait.sh", context)
