"""A server replaced in place of the old one gets every step again, and its app
comes back serving the old data.

What `pulumi up` does on Hetzner, played with two Debian 12 cloud-init hosts
(the image of test_cloudinit_hardening.py with a Docker engine added,
cloudinit-docker-host) over real SSH:

1. Host A boots from the dev stack's user data (image debian-12, monitoring
   off, images through a registry mirror). The data volume (a Docker volume)
   is attached at `ATTACHED` and, as the user data's volume step does, mounted
   at the data directory. Every remote step of the dev program then runs on
   it over SSH as the deploy user, the services' image pull and deploy steps
   included, on the host's own Docker engine: in the order the program
   registers them, which is an order of their dependencies (checked), each
   `create` with its `stdin`, as pulumi-command runs them.
2. A subscriber is added through the app (listmonk's stand-in, which keeps it
   in PostgreSQL on the volume) and a file is uploaded. A is deleted, which
   detaches the volume.
3. Host B, a fresh machine (its own SSH host key, a new cloud-init instance),
   boots at the same address with the volume attached but not yet mounted.
   The wait step refuses to go on, and the services' steps, run regardless,
   start nothing and write nothing on the root disk. Then the volume is
   mounted and the same steps run again: what the engine does once the
   server's identity is in every step's triggers (the mock test shows that).

It shows: every step succeeds on both hosts; on B the app serves the
subscriber added on A and the upload, from the same PostgreSQL data; nothing
of the services runs before the volume is mounted; B has /etc/mailstack, the
backup scripts, units and timers, the timers are active, and the restic
repository A initialised on the volume is taken up again by B.

This test found that the first boot leaves the mount point root-owned
(0751) while the services' files step writes its project there as the deploy
user, without sudo ("Permission denied" on a real server). The wait step now
hands the deploy user its folders on the volume (`compose`, `volumes`); the
test checks the user still cannot write elsewhere on the mount point. Once
the services' steps ran on a real engine, it found that the deploy user was
not in the `docker` group, so the image pull and every deploy step failed
("permission denied ... docker.sock"); the user data now puts it there.

Images: the compose file names them under `MIRROR` (a registry that does not
exist). The stand-ins (`mailstack-standin/...`, tests/e2e/images) are loaded
into each host's engine and tagged there with those names, so the pull step
finds them and pulls nothing; no image gets an official name.

What it does not show:
- The attach -> mount order on a real server: the user data's volume step
  waits for the volume's block device, which a container does not have
  (test_cloudinit_hardening.py's NOT_RUN); the test mounts it as that step
  would, after the "attachment".
- The engine from Docker's apt repository (docker-ce, unreachable here): the
  hosts run Debian's docker.io with Compose v2 from Debian 13.
- The proxy serving over HTTPS: Caddy would need a certificate from Let's
  Encrypt. The data is read through the app's own port, inside its container.
- The monitoring services (no stand-ins for Grafana and cAdvisor).
"""

from __future__ import annotations

import hashlib
import json
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
from tests.e2e.images.build import build_all, standin
from tests.e2e.test_cloudinit_hardening import (
    ADMIN,
    CONTEXT,
    _keygen,
    _run,
    _seed,
    build_image,
    wait_for_boot,
)
from tools.fakes import fake_outputs
from tools.harness import SECRET_SIG, run_program

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMMAND = "command:remote:Command"
DOCKER_CONTEXT = Path(__file__).parent / "cloudinit-docker-host"
MIRROR = "registry.e2e.invalid"
"""`imageRegistryMirror`: a name no registry answers to; the stand-ins carry it."""
ATTACHED = "/mnt/attached-volume"
"""Where the attached volume's filesystem is before the volume step mounts it."""
COMPOSE_DIR = f"{DATA_DIR}/compose"
REPOSITORY = f"{DATA_DIR}/backup/restic"
TIMERS = ("mailstack-backup.timer", "mailstack-backup-check.timer", "mailstack-backup-status.timer")
SUBSCRIBER = "ada@example.org"
UPLOAD = ("e2e-upload.txt", "an attachment uploaded on host A\n")
WAIT_STEP = "server-cloud-init"


@dataclass(frozen=True)
class Step:
    name: str
    create: str
    stdin: str | None
    needs: tuple[str, ...]
    """The remote steps it depends on (its `depends_on` and property dependencies)."""

    @property
    def is_services(self) -> bool:
        return self.name.startswith("services-")


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def _synth(
    admin_key: str, admin_cidr: str, deploy_public_key: str
) -> tuple[str, list[Step], list[str]]:
    """The dev stack's user data, its remote steps in registration order and the
    images its compose file names, with the mock engine's deploy key swapped for
    the test's and the restic repository on the data volume (as a throwaway's:
    dev's object store is not reachable)."""
    config, secret_keys = stack_config(
        "dev",
        set={
            "serverImage": "debian-12",
            "sshPublicKeys": [admin_key],
            "adminCidrs": [admin_cidr],
            "backupRepository": REPOSITORY,
            "imageRegistryMirror": MIRROR,
            # The stand-ins come from no registry: there is no digest to pin them by.
            "pinImageDigests": False,
            "monitoring": False,
        },
    )
    run = run_program("dev", config, secret_keys)
    fake = fake_outputs("tls:index/privateKey:PrivateKey", "server-deploy-key", {})
    fake_key = fake["publicKeyOpenssh"].strip()

    def swap(text: str) -> str:
        return text.replace(fake_key, deploy_public_key)

    commands = [r for r in run.registrations if r.type == COMMAND]
    names = {r.urn: r.name for r in commands}
    steps = [
        Step(
            r.name,
            swap(_plain(r.inputs["create"])),
            _plain(r.inputs.get("stdin")),
            tuple(sorted(names[u] for u in r.dependencies if u in names)),
        )
        for r in commands
    ]
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    images = sorted({s["image"] for s in compose["services"].values()})
    return swap(run.artifacts[USER_DATA_ARTIFACT].text), steps, images


def _docker_image() -> str:
    """The host image with Docker's engine, built (with its base) if missing."""
    base = build_image()
    digest = hashlib.sha256(
        (CONTEXT / "Dockerfile").read_bytes() + (DOCKER_CONTEXT / "Dockerfile").read_bytes()
    ).hexdigest()[:12]
    tag = f"mailstack-test/server-cloudinit-docker:{digest}"
    if _run("docker", "image", "inspect", tag, check=False).returncode != 0:
        _run(
            "docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tag,
            str(DOCKER_CONTEXT), timeout=1200,
        )  # fmt: skip
    return tag


@dataclass
class Site:
    """The network, address and data volume that outlive any one host."""

    network: str
    ip: str
    volume: str
    tmp: Path
    image: str
    deploy_key: Path
    user_data: str
    steps: list[Step]
    images: list[str]


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

    def run(self, step: Step) -> subprocess.CompletedProcess[str]:
        return self.ssh(step.create, step.stdin)

    def host_key(self) -> str:
        return self.exec("cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]

    def load_images(self) -> None:
        """The stand-ins into this host's engine, under the names the compose file uses."""
        standins = [standin(ref.removeprefix(f"{MIRROR}/")) for ref in self.site.images]
        save = subprocess.Popen(["docker", "save", *standins], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            ["docker", "exec", "-i", self.name, "docker", "load", "-q"],
            stdin=save.stdout, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert save.wait() == 0 and loaded.returncode == 0, loaded.stderr
        for name, ref in zip(standins, self.site.images, strict=True):
            self.exec("docker", "tag", name, ref)

    def mount_volume(self) -> None:
        """What the user data's volume step does once the volume is attached:
        mount it at the data directory, mode 0751."""
        self.exec(
            "sh", "-c", f"mkdir -p {DATA_DIR} && mount --bind {ATTACHED} {DATA_DIR} "
            f"&& chmod 0751 {DATA_DIR}",
        )  # fmt: skip

    def deploy(self) -> list[str]:
        """Run every step in order; the names of those that ran."""
        ran = []
        for step in self.site.steps:
            result = self.run(step)
            assert result.returncode == 0, (
                f"{self.name}: {step.name}\n{result.stdout}{result.stderr}"
            )
            ran.append(step.name)
        return ran

    def compose(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(
            "docker", "exec", "-w", COMPOSE_DIR, self.name, "docker", "compose", *argv,
            check=check,
        )  # fmt: skip

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """A request to the app on its own port, from inside its container."""
        script = (
            "import json, sys, urllib.request\n"
            "data = sys.argv[3].encode() if sys.argv[3] != 'null' else None\n"
            "request = urllib.request.Request('http://127.0.0.1:9000' + sys.argv[2], "
            "data=data, method=sys.argv[1], headers={'Content-Type': 'application/json'})\n"
            "with urllib.request.urlopen(request, timeout=10) as response:\n"
            "    print(response.status, response.read().decode())\n"
        )
        out = self.compose(
            "exec", "-T", "app", "python3", "-c", script, method, path, json.dumps(body)
        ).stdout
        status, _, text = out.partition(" ")
        return int(status), json.loads(text)


def _boot(site: Site, name: str) -> Host:
    """A new server at the site's address: systemd, cloud-init from the seed,
    a Docker engine (docs/testing.md: "A Docker engine inside a test container")
    and the volume attached."""
    seed = site.tmp / f"seed-{name}"
    seed.mkdir()
    (seed / "user-data").write_text(_seed(site.user_data, engine=True))
    (seed / "meta-data").write_text(
        yaml.safe_dump({"instance-id": name, "local-hostname": "mail-dev", "public-keys": []})
    )
    _run(
        "docker", "run", "-d", "--name", name, "--network", site.network, "--ip", site.ip,
        "--hostname", "mail-dev",
        # A Docker engine inside: every capability the bounding set allows,
        # the host's cgroups, and /var/lib/docker on an anonymous volume
        # (overlay2 cannot sit on the container's own overlay).
        "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", "/var/lib/docker",
        "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-v", f"{seed}:/var/lib/cloud/seed/nocloud:ro",
        # The Hetzner volume: the same data on whichever server it is attached to.
        "-v", f"{site.volume}:{ATTACHED}",
        site.image,
    )  # fmt: skip
    # The same wait as the hardening test's: systemctl's --wait hangs when
    # needrestart re-executes systemd during the first boot.
    wait_for_boot(name)
    return Host(site, name)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    image = _docker_image()
    build_all()
    name = f"mailstack-replace-e2e-{os.getpid()}"
    tmp = tmp_path_factory.mktemp("replace-e2e")
    admin_public = _keygen(tmp / "admin", "e2e-admin")
    deploy_public = _keygen(tmp / "deploy", "e2e-deploy")
    octet = 16 + os.getpid() % 200
    _run("docker", "network", "create", "--subnet", f"10.231.{octet}.0/24", name)
    _run("docker", "volume", "create", name)
    try:
        user_data, steps, images = _synth(admin_public, f"10.231.{octet}.1/32", deploy_public)
        yield Site(
            name, f"10.231.{octet}.10", name, tmp, image, tmp / "deploy", user_data, steps, images
        )
    finally:
        # -v: the hosts' anonymous /var/lib/docker volumes.
        _run("docker", "rm", "-fv", f"{name}-a", f"{name}-b", check=False)
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
    subscribers_on_old: list[str]
    unmounted_wait: subprocess.CompletedProcess[str]
    unmounted_steps: dict[str, subprocess.CompletedProcess[str]]
    unmounted_containers: str
    unmounted_root_disk: str


@pytest.fixture(scope="module")
def replaced(site: Site) -> Replaced:
    old = _boot(site, f"{site.network}-a")
    old.load_images()
    old.mount_volume()
    # The mount point is root's: the deploy user cannot write there itself...
    denied = old.ssh(f"mkdir -p {DATA_DIR}/elsewhere")
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # ...and the wait step hands it the compose and volumes folders.
    ran_on_old = old.deploy()
    assert old.api("POST", "/api/subscribers", {"email": SUBSCRIBER})[0] == 201
    subscribers_on_old = old.api("GET", "/api/subscribers")[1]["data"]
    upload = f"{DATA_DIR}/volumes/app-uploads/{UPLOAD[0]}"
    written = old.ssh(f"sudo -n install -D -m 0644 /dev/stdin {upload}", UPLOAD[1])
    assert written.returncode == 0, written.stderr
    old_timers = [old.exec("systemctl", "is-active", t, check=False).stdout.strip() for t in TIMERS]
    old_repo = old.exec("sha256sum", f"{REPOSITORY}/config").stdout
    old_key = old.host_key()
    # The server is deleted, which detaches the volume; it and the address stay.
    _run("docker", "rm", "-fv", old.name)

    new = _boot(site, f"{site.network}-b")
    new.load_images()
    # The volume is attached but not mounted yet (the volume step still waits
    # for it, or it failed): the mount point is an empty root-disk directory,
    # as the volume step leaves it.
    new.exec("install", "-d", "-m", "0755", DATA_DIR)
    (wait,) = [s for s in site.steps if s.name == WAIT_STEP]
    unmounted_wait = new.run(wait)
    # What if the services' steps ran anyway (out of order)?
    unmounted = {s.name: new.run(s) for s in site.steps if s.is_services}
    containers = new.exec("docker", "ps", "-aq").stdout
    root_disk = new.exec("ls", "-A", DATA_DIR).stdout
    new.mount_volume()
    return Replaced(
        old_key, new, ran_on_old, new.deploy(), old_timers, old_repo, subscribers_on_old,
        unmounted_wait, unmounted, containers, root_disk,
    )  # fmt: skip


def test_the_steps_run_in_an_order_of_their_dependencies(site: Site) -> None:
    seen: set[str] = set()
    for step in site.steps:
        assert set(step.needs) <= seen, f"{step.name} runs before {set(step.needs) - seen}"
        seen.add(step.name)
    # Every service waits for the first boot (which checks the volume's mount).
    for step in site.steps:
        if step.is_services:
            assert WAIT_STEP in step.needs, step.name


def test_the_new_host_is_a_different_machine_at_the_same_address(
    replaced: Replaced, site: Site
) -> None:
    assert replaced.new.host_key() != replaced.old_key
    address = replaced.new.exec("hostname", "-I").stdout.split()
    assert site.ip in address


def test_every_step_ran_on_both_hosts_the_services_included(replaced: Replaced, site: Site) -> None:
    names = [s.name for s in site.steps]
    assert replaced.ran_on_old == replaced.ran_on_new == names
    assert {
        "server-cloud-init", "server-access", "services-files", "services-pull",
        "services-db-deploy", "services-app-deploy", "services-proxy-deploy", "backup-timers",
    } <= set(names)  # fmt: skip


def test_nothing_of_the_services_runs_before_the_volume_is_mounted(replaced: Replaced) -> None:
    wait = replaced.unmounted_wait
    assert wait.returncode != 0
    assert f"the data volume is not mounted at {DATA_DIR}" in wait.stderr
    # Run out of order regardless, the steps that write files or start
    # containers fail: the deploy user may not write the root-disk mount
    # point, and the deploy steps find no project to `cd` into. No container
    # starts (a database would initialise afresh there), nothing is written.
    errors = {n: r.stderr for n, r in replaced.unmounted_steps.items() if r.returncode != 0}
    assert set(errors) == {n for n in replaced.unmounted_steps if n != "services-pull"}, errors
    assert "Permission denied" in errors.pop("services-files"), errors
    assert errors and all(
        n.endswith("-deploy") and f"cd: {COMPOSE_DIR}: No such file or directory" in e
        for n, e in errors.items()
    ), errors
    assert replaced.unmounted_containers == ""
    assert replaced.unmounted_root_disk == ""


def test_the_app_on_the_new_host_serves_the_data_written_on_the_old_one(
    replaced: Replaced,
) -> None:
    assert replaced.subscribers_on_old == [SUBSCRIBER]
    status, body = replaced.new.api("GET", "/api/subscribers")
    assert status == 200 and body["data"] == [SUBSCRIBER]
    uploaded = replaced.new.compose("exec", "-T", "app", "cat", f"/listmonk/uploads/{UPLOAD[0]}")
    assert uploaded.stdout == UPLOAD[1]
    # The database's files are the volume's: its named volume binds a
    # directory that lies on the mounted volume.
    db_data = f"{DATA_DIR}/volumes/db-data"
    device = replaced.new.exec(
        "docker", "volume", "inspect", "-f", '{{index .Options "device"}}', "mailstack-dev_db-data"
    ).stdout.strip()
    assert device == db_data
    target = replaced.new.exec("findmnt", "-n", "-o", "TARGET", "-T", db_data).stdout.strip()
    assert target == DATA_DIR


def test_every_service_runs_on_the_new_host(replaced: Replaced) -> None:
    running = replaced.new.compose("ps", "--format", "{{.Service}} {{.State}}").stdout
    states = dict(line.split() for line in running.splitlines())
    assert states == {"proxy": "running", "db": "running", "app": "running"}, running


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
        f"{COMPOSE_DIR}/compose.yaml",
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
