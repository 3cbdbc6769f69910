"""A server replaced in place of the old one gets every step again and keeps its data.

What `pulumi up` does on Hetzner, played with two Debian 12 cloud-init hosts
(the image of test_cloudinit_hardening.py) over real SSH:

1. Host A boots from the dev stack's user data (image debian-12) with a
   Docker volume mounted at the data directory, as the Hetzner volume is; the
   dev program's remote steps then run on it over SSH as the deploy user, in
   the order resources.json lists them (the order the program registers them,
   which every dependency follows), each `create` with its `stdin`, as
   pulumi-command runs them.
2. The data an app writes goes into its volume directories; A is deleted.
3. Host B, a fresh machine (its own SSH host key, a new cloud-init instance),
   boots at the same address with the same volume, and the same steps run on
   it again: what the engine does once the server's identity is in every
   step's triggers (issue 12, done by the lead).

It shows: every step succeeds on the new host; the old data is there on B;
B has /etc/mailstack, the compose project, the backup scripts, units and
timers, and the timers are active; the restic repository A initialised on
the volume is taken up again by B, not replaced.

This test found that the first boot leaves the mount point root-owned
(0751) while the services' files step writes its project there as the deploy
user, without sudo ("Permission denied" on a real server). The wait step now
hands the deploy user its folders on the volume (`compose`, `volumes`); the
test checks the user still cannot write elsewhere on the mount point.

What it does not show: the app containers serving that data. The test host
has no Docker engine (test_cloudinit_hardening.py's NOT_RUN: no
download.docker.com, and no engine inside this container), so the steps that
run `docker compose` or `docker pull` (the services' deploy steps and the
image pull, `_skipped`) are left out,
and the test fails if any other step mentions docker outside a guard. The
app serving a volume's data after a restart is shown by
test_backup_app_restart.py and test_local_stack.py on the local engine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.layout import SERVER_DATA_DIR as DATA_DIR
from components.server import USER_DATA_ARTIFACT
from tests.conftest import stack_config
from tests.e2e.test_cloudinit_hardening import (
    ADMIN,
    _image_tag,
    _keygen,
    _run,
    _seed,
    wait_for_boot,
)
from tools.fakes import fake_outputs
from tools.harness import SECRET_SIG, run_program

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMMAND = "command:remote:Command"
REPOSITORY = f"{DATA_DIR}/backup/restic"
TIMERS = ("mailstack-backup.timer", "mailstack-backup-check.timer", "mailstack-backup-status.timer")
OLD_DATA = {
    f"{DATA_DIR}/volumes/db-data/e2e-rows": "subscriber 1: ada@example.org\n",
    f"{DATA_DIR}/volumes/app-uploads/e2e-upload.txt": "an attachment uploaded on host A\n",
}


def _skipped(name: str) -> bool:
    """The services' deploy steps and the image pull: each runs `docker`, which
    this host lacks."""
    return name == "services-pull" or (name.startswith("services-") and name.endswith("-deploy"))


@dataclass(frozen=True)
class Step:
    name: str
    create: str
    stdin: str | None


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def _synth(admin_key: str, admin_cidr: str, deploy_public_key: str) -> tuple[str, list[Step]]:
    """The dev stack's user data and remote steps in registration order, with the
    mock engine's deploy key swapped for the test's, and the restic repository
    on the data volume (as a throwaway's: dev's object store is not reachable)."""
    config, secret_keys = stack_config(
        "dev",
        set={
            "serverImage": "debian-12",
            "sshPublicKeys": [admin_key],
            "adminCidrs": [admin_cidr],
            "backupRepository": REPOSITORY,
        },
    )
    run = run_program("dev", config, secret_keys)
    fake = fake_outputs("tls:index/privateKey:PrivateKey", "server-deploy-key", {})
    fake_key = fake["publicKeyOpenssh"].strip()

    def swap(text: str) -> str:
        return text.replace(fake_key, deploy_public_key)

    steps = [
        Step(r.name, swap(_plain(r.inputs["create"])), _plain(r.inputs.get("stdin")))
        for r in run.registrations
        if r.type == COMMAND
    ]
    return swap(run.artifacts[USER_DATA_ARTIFACT].text), steps


@dataclass
class Site:
    """The network, address and data volume that outlive any one host."""

    network: str
    ip: str
    volume: str
    tmp: Path
    admin_key: Path
    deploy_key: Path
    user_data: str
    steps: list[Step]


class Host:
    def __init__(self, site: Site, name: str) -> None:
        self.site, self.name = site, name

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("docker", "exec", self.name, *argv, check=check)

    def ssh(self, command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """As pulumi-command runs a step: one command string, stdin piped, deploy key."""
        return subprocess.run(
            [
                "ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes",
                "-i", str(self.site.deploy_key), f"{ADMIN}@{self.site.ip}", command,
            ],
            input=stdin or "", capture_output=True, text=True, timeout=900,
        )  # fmt: skip

    def host_key(self) -> str:
        return self.exec("cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]

    def deploy(self) -> list[str]:
        """Run every step in order; the names of those that ran."""
        ran = []
        for step in self.site.steps:
            if _skipped(step.name):
                continue
            result = self.ssh(step.create, step.stdin)
            assert result.returncode == 0, (
                f"{self.name}: {step.name}\n{result.stdout}{result.stderr}"
            )
            ran.append(step.name)
        return ran


def _boot(site: Site, name: str) -> Host:
    seed = site.tmp / f"seed-{name}"
    seed.mkdir()
    (seed / "user-data").write_text(_seed(site.user_data))
    (seed / "meta-data").write_text(
        yaml.safe_dump({"instance-id": name, "local-hostname": "mail-dev", "public-keys": []})
    )
    _run(
        "docker", "run", "-d", "--name", name, "--network", site.network, "--ip", site.ip,
        "--hostname", "mail-dev",
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-v", f"{seed}:/var/lib/cloud/seed/nocloud:ro",
        # The Hetzner volume: the same data on whichever server it is attached to.
        "-v", f"{site.volume}:{DATA_DIR}",
        _image_tag(),
    )  # fmt: skip
    # The same wait as the hardening test's: systemctl's --wait hangs when
    # needrestart re-executes systemd during the first boot.
    wait_for_boot(name)
    return Host(site, name)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tag = _image_tag()
    if _run("docker", "image", "inspect", tag, check=False).returncode != 0:
        _run("docker", "build", "-q", "-t", tag, str(Path(__file__).parent / "cloudinit-host"))
    name = f"mailstack-replace-e2e-{os.getpid()}"
    tmp = tmp_path_factory.mktemp("replace-e2e")
    admin_public = _keygen(tmp / "admin", "e2e-admin")
    deploy_public = _keygen(tmp / "deploy", "e2e-deploy")
    octet = 16 + os.getpid() % 200
    _run("docker", "network", "create", "--subnet", f"10.231.{octet}.0/24", name)
    _run("docker", "volume", "create", name)
    try:
        user_data, steps = _synth(admin_public, f"10.231.{octet}.1/32", deploy_public)
        yield Site(
            name, f"10.231.{octet}.10", name, tmp, tmp / "admin", tmp / "deploy", user_data, steps
        )
    finally:
        _run("docker", "rm", "-f", f"{name}-a", f"{name}-b", check=False)
        _run("docker", "volume", "rm", "-f", name, check=False)
        _run("docker", "network", "rm", name, check=False)


@dataclass
class Replaced:
    old_key: str
    new: Host
    ran_on_old: list[str]
    ran_on_new: list[str]
    old_timers: list[str]
    old_repo_config: str


@pytest.fixture(scope="module")
def replaced(site: Site) -> Replaced:
    old = _boot(site, f"{site.network}-a")
    # The mount point is root's: the deploy user cannot write there itself...
    denied = old.ssh(f"mkdir -p {DATA_DIR}/elsewhere")
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # ...and the wait step hands it the compose and volumes folders.
    ran_on_old = old.deploy()
    for path, text in OLD_DATA.items():
        written = old.ssh(f"sudo -n install -D -m 0640 /dev/stdin {path}", text)
        assert written.returncode == 0, written.stderr
    old_timers = [old.exec("systemctl", "is-active", t, check=False).stdout.strip() for t in TIMERS]
    old_repo = old.exec("sha256sum", f"{REPOSITORY}/config").stdout
    old_key = old.host_key()
    # The server is deleted; the volume and the address stay.
    _run("docker", "rm", "-f", old.name)
    new = _boot(site, f"{site.network}-b")
    return Replaced(old_key, new, ran_on_old, new.deploy(), old_timers, old_repo)


def test_the_new_host_is_a_different_machine_at_the_same_address(
    replaced: Replaced, site: Site
) -> None:
    assert replaced.new.host_key() != replaced.old_key
    address = replaced.new.exec("hostname", "-I").stdout.split()
    assert site.ip in address


def test_every_step_ran_on_both_hosts_and_only_docker_steps_were_left_out(
    replaced: Replaced, site: Site
) -> None:
    names = [s.name for s in site.steps]
    left_out = [s for s in site.steps if _skipped(s.name)]
    assert replaced.ran_on_old == replaced.ran_on_new == [n for n in names if not _skipped(n)]
    assert left_out and all(
        "docker compose" in s.create or "docker pull" in s.create for s in left_out
    )
    assert {"server-cloud-init", "server-access", "services-files", "backup-timers"} <= set(
        replaced.ran_on_new
    )


def test_the_old_data_is_on_the_new_host(replaced: Replaced) -> None:
    for path, text in OLD_DATA.items():
        assert replaced.new.exec("cat", path).stdout == text


def test_the_backup_timers_are_active_on_both_hosts(replaced: Replaced) -> None:
    assert replaced.old_timers == ["active"] * len(TIMERS)
    for timer in TIMERS:
        state = replaced.new.exec("systemctl", "is-active", timer, check=False).stdout.strip()
        assert state == "active", timer


def test_the_new_host_has_the_config_compose_project_and_backup_tools(replaced: Replaced) -> None:
    host = replaced.new
    for path in (
        "/etc/mailstack/backup.conf",
        "/etc/mailstack/backup/restic-password",
        "/usr/local/sbin/mailstack-backup",
        "/etc/systemd/system/mailstack-backup.service",
        f"{DATA_DIR}/compose/compose.yaml",
    ):
        assert host.exec("test", "-e", path, check=False).returncode == 0, path
    mode = host.exec("stat", "-c", "%a %U", "/etc/mailstack/backup/restic-password").stdout
    assert mode.split() == ["600", "root"]


def test_the_restic_repository_on_the_volume_is_taken_up_not_replaced(replaced: Replaced) -> None:
    # A second `init` would have made a new repository (a new config file):
    # the new host must use the one that holds the old snapshots.
    assert replaced.old_repo_config
    assert replaced.new.exec("sha256sum", f"{REPOSITORY}/config").stdout == replaced.old_repo_config
    # And the password the new host was given opens it.
    opened = replaced.new.ssh(
        "sudo -n env RESTIC_PASSWORD_FILE=/etc/mailstack/backup/restic-password "
        f"restic --no-cache -r {REPOSITORY} cat config"
    )
    assert opened.returncode == 0, opened.stderr
    assert '"version"' in opened.stdout
