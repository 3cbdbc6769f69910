"""The rendered `local` stack on a real Docker engine, with stand-in images.

Redis and object storage (SeaweedFS) are turned on so every kind of data service is checked. The
tests share one running stack and run in file order: health and exposure
first, then persistence across `down` + `up`, then an app update.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.services.compose import NETWORKS, service_dict
from components.services.model import Image, Role
from components.services.presets import build_app
from tests.conftest import RunStack
from tests.e2e.first_deploy import host_steps, run_first_deploy
from tests.e2e.images.build import BROKEN_LISTMONK, DEBIAN, NEXT_LISTMONK, standin
from tests.e2e.localstack import LocalStack, repeat_during, requests_during, running
from tests.e2e.start_first import start_first_listmonk
from tests.services_cases import app_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DATA_SERVICES = ("db", "redis", "storage")
_E2E_APP = app_params(app_url="http://localhost:8080")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# The store's S3 port is published on purpose, through the proxy only
# (`localStoragePort`, for presigned URLs); its own ports stay unpublished.
DATA_PORTS = {"db": (5432,), "redis": (6379,), "storage": (8333, 9333, 8888)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running(LocalStack(tmp_path_factory.mktemp("services-e2e"))) as stack:
        yield stack


def _assert_jobs_succeeded_and_services_healthy(stack: LocalStack, services: list[str]) -> None:
    for service in services:
        (container,) = stack.containers(service)
        state = container["State"]
        if container["Config"]["Labels"]["org.mailstack.role"] == Role.JOB.value:
            assert (state["Status"], state["ExitCode"]) == ("exited", 0), service
        else:
            assert state["Health"]["Status"] == "healthy", service


def test_every_service_is_healthy_and_the_bucket_job_succeeded(stack: LocalStack) -> None:
    services = stack.services()
    assert {"proxy", "app", "db", "redis", "storage", "storage-buckets", "mailpit"} <= set(services)
    _assert_jobs_succeeded_and_services_healthy(stack, services)
    buckets = stack.compose("exec", "-T", "storage", "ls", "/data/buckets").stdout.split()
    assert "uploads" in buckets


def test_the_proxy_serves_the_app_with_security_headers(stack: LocalStack) -> None:
    status, headers, body = stack.get("/")
    assert status == 200
    assert json.loads(body)["app"] == "listmonk stand-in"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Server" not in headers
    status, _, _ = stack.get("/health")
    assert status == 200


def test_the_proxy_compresses_what_the_client_accepts(stack: LocalStack) -> None:
    status, headers, plain = stack.get("/admin")
    assert status == 200 and "Content-Encoding" not in headers
    assert len(plain) > 1024  # above Caddy's minimum length for compressing
    _, headers, body = stack.get("/admin", headers={"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == plain
    _, headers, body = stack.get("/admin", headers={"Accept-Encoding": "zstd"})
    assert headers["Content-Encoding"] == "zstd"
    assert body.startswith(ZSTD_MAGIC) and len(body) < len(plain)


def test_the_mail_sink_ui_is_served_through_the_proxy(stack: LocalStack) -> None:
    url = f"http://127.0.0.1:{stack.mail_ui_port}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert b"Mailpit" in response.read()


def test_mail_the_app_sends_reaches_the_local_sink(stack: LocalStack) -> None:
    """listmonk sends through the SMTP settings in its database, which the
    `app-settings` job pointed at the sink; mail arrives in the sink's API."""
    smtp = stack.compose(
        "exec",
        "-T",
        "db",
        "psql",
        "-U",
        "listmonk",
        "-d",
        "listmonk",
        "-tA",
        "-c",
        "SELECT value->0->>'host', value->0->>'port' FROM settings WHERE key = 'smtp'",
    ).stdout.strip()
    assert smtp == "mailpit|1025"
    subject = "e2e: sent through listmonk's SMTP settings"
    body = {"subscriber_email": "reader@example.org", "template_id": 2, "subject": subject}
    assert stack.post_json("/api/tx", body) == 200
    url = f"http://127.0.0.1:{stack.mail_ui_port}/api/v1/messages"
    with urllib.request.urlopen(url, timeout=10) as response:
        listing = json.load(response)
    (message,) = [m for m in listing["messages"] if m["Subject"] == subject]
    assert [to["Address"] for to in message["To"]] == ["reader@example.org"]
    assert message["From"]["Address"] == "noreply@mailstack.localhost"


def _published(container: dict[str, object]) -> list[str]:
    ports = container["NetworkSettings"]["Ports"] or {}  # type: ignore[index]
    return [f"{k}->{b['HostIp']}:{b['HostPort']}" for k, v in ports.items() for b in (v or [])]


def test_only_the_proxy_is_published_and_only_on_loopback(stack: LocalStack) -> None:
    for service in stack.services():
        for container in stack.containers(service):
            published = _published(container)
            if service == "proxy":
                assert published and all("->127.0.0.1:" in p for p in published)
            else:
                assert published == [], service


def _primary_ip() -> str:
    """The host's address on its default route (a UDP connect sends no packet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address: str = probe.getsockname()[0]
        return address


def test_data_service_ports_refuse_connections_on_the_host(stack: LocalStack) -> None:
    """Connecting from the host to their ports, on loopback and on the host's own
    address, is refused: nothing is published for them.

    Out of scope: the containers' bridge addresses. A Linux host routes to its
    own bridges, so it can reach 172.x.y.z directly; that is not exposure,
    since no other machine can (and `internal: true` gives them no way out).
    """
    hosts = ("127.0.0.1", _primary_ip())
    assert not hosts[1].startswith("127."), hosts
    for service, ports in DATA_PORTS.items():
        assert stack.containers(service)[0]["State"]["Running"], service
        for host in hosts:
            for port in ports:
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection((host, port), timeout=5).close()


def test_data_services_are_unreachable_from_the_host(stack: LocalStack) -> None:
    """Nothing forwards host traffic to them: no DNAT rule, no docker-proxy, no
    published port, and their only network is `internal: true`."""
    nat = subprocess.run(
        ["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True
    ).stdout
    proxies = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    for service in DATA_SERVICES:
        (container,) = stack.containers(service)
        networks = container["NetworkSettings"]["Networks"]
        assert list(networks) == [f"{stack.project}_internal"], service
        ip = next(iter(networks.values()))["IPAddress"]
        assert not re.search(rf"\b{re.escape(ip)}\b", nat), f"{service}: DNAT to {ip}"
        assert f"-container-ip {ip} " not in proxies, f"{service}: docker-proxy to {ip}"
    internal = subprocess.run(
        ["docker", "network", "inspect", f"{stack.project}_internal"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(internal)[0]["Internal"] is True


def test_docker_applies_the_security_options(stack: LocalStack) -> None:
    for service in stack.services():
        (container,) = stack.containers(service)
        host = container["HostConfig"]
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["CapDrop"] == ["ALL"], service
        assert host["Memory"] > 0, service
        assert host["LogConfig"]["Type"] == "json-file", service
        assert host["LogConfig"]["Config"]["max-size"] == "10m", service
        assert host["PidsLimit"] > 0, service
    assert stack.containers("proxy")[0]["HostConfig"]["CapAdd"] == ["NET_BIND_SERVICE"]
    for service in ("proxy", "app", "db", "redis", "mailpit"):
        assert stack.containers(service)[0]["HostConfig"]["ReadonlyRootfs"], service
    assert stack.containers("redis")[0]["Config"]["User"] == "redis"


def _secret_values(stack: LocalStack) -> set[str]:
    """Every value of every env file (all of them are secrets)."""
    return {
        line.split("=", 1)[1].strip("'")
        for env_file in (stack.compose_dir / "env").glob("*.env")
        for line in env_file.read_text().splitlines()
    }


def test_secrets_stay_out_of_the_compose_file_and_env_files_are_private(
    stack: LocalStack,
) -> None:
    compose = (stack.compose_dir / "compose.yaml").read_text()
    for env_file in (stack.compose_dir / "env").glob("*.env"):
        assert env_file.stat().st_mode & 0o777 == 0o600
    secrets = _secret_values(stack)
    assert secrets
    for value in secrets:
        assert len(value) >= 24 and value not in compose


def test_no_secret_is_on_any_command_line(stack: LocalStack) -> None:
    """argv is world-readable (`ps`, /proc/<pid>/cmdline): secrets go in env and files only."""
    secrets = _secret_values(stack)
    seen = 0
    for service in stack.services():
        for container in stack.containers(service):
            config = container["Config"]
            health = (config.get("Healthcheck") or {}).get("Test") or []
            argv = [container["Path"], *container["Args"], *(config["Cmd"] or [])]
            argv += [*(config["Entrypoint"] or []), *health]
            command_lines = ["\n".join(argv)]
            if container["State"]["Running"]:
                top = subprocess.run(
                    ["docker", "top", container["Id"], "-eo", "pid,args"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                assert len(top.splitlines()) > 1, service  # a header and the processes
                command_lines.append(top)
            else:
                assert config["Labels"]["org.mailstack.role"] == Role.JOB.value, service
            for text in command_lines:
                seen += 1
                # any(), not a list: a failure must not print the secret.
                assert not any(s in text for s in secrets), f"{service}: secret on a command line"
    assert seen > len(stack.services())


def test_data_written_through_the_app_survives_down_and_up(stack: LocalStack) -> None:
    assert stack.post_json("/api/subscribers", {"email": "kept@example.org"}) == 201
    stack.down()
    stack.up()
    status, _, body = stack.get("/api/subscribers")
    assert status == 200
    assert "kept@example.org" in json.loads(body)["data"]


def _running_apps(stack: LocalStack) -> int:
    return len(stack.compose("ps", "-q", "app").stdout.split())


def _most_apps_running(stack: LocalStack, action: Callable[[], Any]) -> int:
    """Run `action`, counting the app's running containers every 0.2 s; the most seen."""
    counts = [_running_apps(stack)]

    def sample() -> bool:
        counts.append(_running_apps(stack))
        time.sleep(0.2)
        return True

    repeat_during(action, sample)
    return max(counts)


def test_an_app_update_through_the_deploy_path_fails_no_request(stack: LocalStack) -> None:
    """listmonk is recreated, never doubled: the proxy holds requests while it restarts."""
    stack.synth(appImage=NEXT_LISTMONK)
    most: list[int] = []
    load = requests_during(
        stack, lambda: most.append(_most_apps_running(stack, lambda: stack.deploy("app")))
    )
    assert load.failures == 0, f"{load.failures} of {load.requests} requests failed"
    assert {"v5.0.3", "v5.0.4"} <= load.versions  # the loop really ran through the switch
    assert most == [1], f"{most} app containers ran at once"
    (app,) = stack.containers("app")
    assert app["Config"]["Image"] == standin(NEXT_LISTMONK)
    status, headers, _ = stack.get("/")
    assert (status, headers["X-App-Version"]) == (200, "v5.0.4")


def test_a_failed_recreate_fails_the_step_and_the_next_release_recovers(
    stack: LocalStack,
) -> None:
    """A release that never turns healthy fails its step; the release the
    update test recorded comes back by itself (test_release_rollback.py has
    the details), and the next good release deploys over it."""
    stack.synth(appImage=BROKEN_LISTMONK)
    deploy = stack.deploy("app", check=False)
    assert deploy.returncode != 0
    assert "app: the new container did not turn healthy" in deploy.stderr
    assert "rolled back to release" in deploy.stderr
    status, headers, _ = stack.get("/")
    assert (status, headers["X-App-Version"]) == (200, "v5.0.4")
    stack.synth(appImage=NEXT_LISTMONK)
    stack.deploy("app")
    (app,) = stack.containers("app")
    assert app["Config"]["Image"] == standin(NEXT_LISTMONK)
    status, headers, _ = stack.get("/")
    assert (status, headers["X-App-Version"]) == (200, "v5.0.4")


def test_a_failed_start_first_update_leaves_the_old_container_serving_alone(
    stack: LocalStack,
) -> None:
    """A release that never turns healthy: the deploy step fails and removes it."""
    (before,) = stack.containers("app")
    stack.synth(program=start_first_listmonk, appImage=BROKEN_LISTMONK)
    deploys: list[subprocess.CompletedProcess[str]] = []
    load = requests_during(stack, lambda: deploys.append(stack.deploy("app", check=False)))
    (deploy,) = deploys
    assert deploy.returncode != 0
    assert "did not turn healthy" in deploy.stderr
    assert load.failures == 0, f"{load.failures} of {load.requests} requests failed"
    assert load.requests >= 20
    assert load.versions == {"v5.0.4"}
    (after,) = stack.containers("app")
    assert after["Id"] == before["Id"]
    assert after["State"]["Running"]
    status, headers, _ = stack.get("/")
    assert (status, headers["X-App-Version"]) == (200, "v5.0.4")
    # Leave the project files as the running stack is, for the tests after this one.
    stack.synth(appImage=NEXT_LISTMONK)
    stack.write_files()


def test_env_files_written_by_the_deploy_step_are_private(stack: LocalStack) -> None:
    app_env = stack.compose_dir / "env" / "app.env"
    assert Path(app_env).stat().st_mode & 0o777 == 0o600


def test_a_replaced_files_step_leaves_the_project_running(stack: LocalStack) -> None:
    """pulumi-command replaces a remote step when its connection changes: the new
    step's create runs, then the old step's delete, which must not stop anything."""
    running = stack.running()
    stack.run_step("files-create.sh")
    assert (stack.compose_dir / ".keep-running").exists()
    stack.run_step("down.sh")
    assert sorted(stack.running()) == sorted(running)
    assert not (stack.compose_dir / ".keep-running").exists()


def test_destroy_stops_every_container_and_keeps_the_data(stack: LocalStack) -> None:
    volumes = stack.volumes()
    assert {f"{stack.project}_db-data", f"{stack.project}_storage-data"} <= volumes
    stack.run_step("down.sh")
    assert stack.running() == []
    assert stack.compose("ps", "-a", "-q").stdout.split() == []
    assert stack.volumes() == volumes
    stack.up()
    status, _, body = stack.get("/api/subscribers")
    assert status == 200
    assert "kept@example.org" in json.loads(body)["data"]


def test_a_server_deploy_step_refuses_a_volume_bound_elsewhere(
    run_stack: RunStack, tmp_path: Path
) -> None:
    """Docker keeps a volume's bind path from its creation: a changed `volume_root`
    must stop the step, not leave the service on the old path unnoticed."""
    script = run_stack("prod").named("services-db-deploy").inputs["create"]
    assert "/srv/mailstack/volumes/db-data" in script
    script = script.replace("/srv/mailstack/", f"{tmp_path}/")
    (tmp_path / "compose").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = "mailstack-e2e-volume-guard"
    volume = f"{project}_db-data"
    options = ["type=none", "o=bind", f"device={elsewhere}"]
    subprocess.run(
        ["docker", "volume", "create", *(f"--opt={o}" for o in options), volume],
        check=True,
        capture_output=True,
    )
    try:
        done = subprocess.run(
            ["sh", "-c", script],
            input="POSTGRES_PASSWORD='not-a-real-one'\n",
            env={**os.environ, "COMPOSE_PROJECT_NAME": project},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1
        expected = f"volume db-data is bound to {elsewhere}, not {tmp_path}/volumes/db-data"
        assert expected in done.stderr
        containers = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert containers == ""
    finally:
        subprocess.run(["docker", "volume", "rm", volume], check=True, capture_output=True)


def test_a_configured_healthcheck_reaches_the_engine_verbatim(tmp_path: Path) -> None:
    """`appHealthCommand` is exec form without a shell; `$` survives compose."""
    command = ("sh", "-c", 'test "$HOME" = /root')
    app = build_app(replace(_E2E_APP, health_command=command))
    service = replace(app.services[0], image=Image.parse(DEBIAN), command=("sleep", "600"))
    compose = {
        "name": "mailstack-e2e-healthcheck",
        "services": {service.name: service_dict(service)},
        "networks": {n.value: NETWORKS[n] for n in service.networks},
        "volumes": {v: {} for v in service.volumes},
    }
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(compose))
    up = ["docker", "compose", "-f", str(path)]
    try:
        subprocess.run([*up, "up", "-d", "--wait"], check=True, capture_output=True)
        ids = subprocess.run([*up, "ps", "-q"], check=True, capture_output=True, text=True)
        (container,) = json.loads(
            subprocess.run(
                ["docker", "inspect", *ids.stdout.split()], check=True, capture_output=True
            ).stdout
        )
        assert container["Config"]["Healthcheck"]["Test"] == ["CMD", *command]
        assert container["State"]["Health"]["Status"] == "healthy"
    finally:
        subprocess.run([*up, "down", "-v"], capture_output=True)


def test_the_first_deploy_on_an_empty_host_brings_every_service_up(tmp_path: Path) -> None:
    """`pulumi up` on a fresh host: the files and pull steps, then every service
    step as soon as the ones it depends on are done (independent ones at the
    same time), each writing only its own env file (from stdin), into a project
    directory that held nothing before."""
    stack = LocalStack(
        tmp_path,
        project="mailstack-e2e-first-up",
        http_port=18490,
        mail_ui_port=18435,
        storage_port=18443,
    )
    stack.synth()
    env_dir = stack.compose_dir / "env"
    secrets = {p.stem: p.read_text() for p in env_dir.glob("*.env")}
    assert secrets, "the local stack has no secret env files: this test would prove nothing"
    steps = tmp_path / "steps"
    shutil.copytree(stack.compose_dir / "deploy", steps)
    shutil.rmtree(stack.compose_dir)
    resources = tmp_path / "build/local/resources.json"
    assert set(host_steps(json.loads(resources.read_text()))) >= {
        "services-files",
        "services-pull",
        "services-db-deploy",
        "services-proxy-deploy",
    }
    try:
        run_first_deploy(resources, steps, tmp_path, stack.env, secrets)
        _assert_jobs_succeeded_and_services_healthy(stack, stack.services())
        # One network of each name: the steps that ran at once did not race
        # to create them.
        networks = subprocess.run(
            [
                "docker",
                "network",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                f"name={stack.project}_",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert sorted(networks) == sorted(set(networks)) and len(networks) == 2, networks
        assert {p.stem: p.read_text() for p in env_dir.glob("*.env")} == secrets
        status, _, _ = stack.get("/")
        assert status == 200
    finally:
        stack.down(volumes=True)
