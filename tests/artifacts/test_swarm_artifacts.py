"""The Swarm stack file of the three-node example, checked by the real tools."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from common import encode
from common.artifacts import publish
from common.layout import HostLayout
from common.topology import LOAD_BALANCER_IP
from common.topology import Role as NodeRole
from components.host import Host
from components.services.model import Project, Role, Update
from components.services.project import build_project
from components.services.swarm import constraint
from mailstack.config import StackConfig, validate
from mailstack.cost import monthly_cost_eur
from mailstack.scale import STACK_FILE, swarm_stack_files
from mailstack.wiring import services_args
from tests.caddy import CADDY
from tools.harness import ROOT, read_stack_config, run_program
from tools.synth import with_placeholder_secrets

EXAMPLE = ROOT / "examples" / "three-nodes.yaml"
VENV_BIN = ROOT / ".venv" / "bin"


def example_root(tmp_path: Path) -> Path:
    """A project folder holding the example as if copied to Pulumi.prod.yaml."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(EXAMPLE, tmp_path / "Pulumi.prod.yaml")
    return tmp_path


def example_config(tmp_path: Path) -> StackConfig:
    config, secret_keys = read_stack_config("prod", example_root(tmp_path))
    with_placeholder_secrets(config, secret_keys)
    return validate(config, secret_keys, stack="prod")


def example_run(tmp_path: Path) -> tuple[Project, dict[str, str]]:
    """The example's services and its stack file, rendered under the mock engine the
    way synth runs the program (the relay password stays a secret Output)."""
    config = example_config(tmp_path)
    projects: list[Project] = []

    def program() -> None:
        host = Host("swarm", connection=None, layout=HostLayout.for_stack("prod"))
        projects.append(build_project(services_args(config, host).stack).project)
        for rel, text in swarm_stack_files(config, "prod").items():
            publish(f"swarm/{rel}", text)

    raw, secret_keys = read_stack_config("prod", tmp_path)
    with_placeholder_secrets(raw, secret_keys)
    run = run_program("prod", raw, secret_keys, program=program, root=tmp_path)
    files = {
        rel.removeprefix("swarm/"): artifact.text
        for rel, artifact in run.artifacts.items()
        if rel.startswith("swarm/")
    }
    return projects[0], files


def _check(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv[:3]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture
def stack_file(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    _, files = example_run(tmp_path)
    # The project folder as the deploy step lays it out: the stack file and the
    # files it ships as configs.
    folder = tmp_path / "project"
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    path = folder / STACK_FILE
    text = files[STACK_FILE]
    doc = yaml.safe_load(text)
    # The deploy step writes each env file (secret values) beside the stack file.
    for service in doc["services"].values():
        for env_file in service.get("env_file", []):
            (folder / env_file).parent.mkdir(exist_ok=True)
            names = service["x-secret-env"]
            (folder / env_file).write_text("".join(f"{n}='placeholder'\n" for n in names))
    return path, doc


def test_the_example_costs_its_three_servers_backups_ips_volumes_and_load_balancer(
    tmp_path: Path,
) -> None:
    # 2 x cx23 (3.99) + cx33 (6.49), each + 20 % backups; 3 primary IPv4 (0.50),
    # IPv6 free; 50 GB on the db node + 10 GB on each other node at 0.044; lb11 5.39.
    assert monthly_cost_eur(example_config(tmp_path)) == 27.33


def test_stack_file_passes_compose_the_compose_spec_and_docker_stack(
    stack_file: tuple[Path, dict[str, Any]],
) -> None:
    path, _ = stack_file
    _check("docker", "compose", "-f", str(path), "config", "-q")
    _check(str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))
    # The Swarm CLI's own loader (client side: no engine or Swarm needed).
    resolved = yaml.safe_load(_check("docker", "stack", "config", "-c", str(path)))
    assert set(resolved["services"]) == set(yaml.safe_load(path.read_text())["services"])


def test_placement_follows_the_roles(stack_file: tuple[Path, dict[str, Any]]) -> None:
    _, doc = stack_file
    services = doc["services"]
    by_role: dict[str, list[str]] = {}
    for name, service in services.items():
        by_role.setdefault(service["deploy"]["labels"]["org.mailstack.role"], []).append(name)
    [db] = by_role[Role.DATABASE.value]
    assert services[db]["deploy"]["placement"]["constraints"] == [constraint(NodeRole.DB)]
    assert services[db]["deploy"]["replicas"] == 1
    # Its named volume, bound onto the data volume of the db node.
    named = [v.split(":")[0] for v in services[db]["volumes"] if isinstance(v, str)]
    assert named and set(named) <= set(doc["volumes"])
    for volume in doc["volumes"].values():
        assert volume["driver_opts"]["device"].startswith("/srv/mailstack/volumes/")
    apps = by_role[Role.APP.value]
    assert sorted(apps) == ["api", "web"]  # the web-api preset
    for app in apps:
        assert services[app]["deploy"]["replicas"] == 2  # edge + app nodes
        assert services[app]["deploy"]["placement"]["constraints"] == [constraint(NodeRole.APP)]
    [proxy] = by_role[Role.PROXY.value]
    assert services[proxy]["deploy"]["mode"] == "global"
    assert services[proxy]["deploy"]["placement"]["constraints"] == [constraint(NodeRole.PROXY)]
    assert {p["mode"] for p in services[proxy]["ports"]} == {"host"}
    # The exporters and the monitoring stack (Prometheus, Alertmanager, ...).
    watching = by_role[Role.METRICS.value] + by_role.get(Role.MONITORING.value, [])
    assert watching
    for name in watching:
        assert services[name]["deploy"]["placement"]["constraints"] == [
            constraint(NodeRole.MONITORING)
        ]


def test_rolling_updates_are_health_gated_and_roll_back(
    tmp_path: Path, stack_file: tuple[Path, dict[str, Any]]
) -> None:
    _, doc = stack_file
    project, _ = example_run(tmp_path)
    for service in project.services:
        deploy = doc["services"][service.name]["deploy"]
        if service.role is Role.JOB:
            assert "update_config" not in deploy
            continue
        expected = "start-first" if service.update is Update.START_FIRST else "stop-first"
        assert deploy["update_config"]["order"] == expected
        assert deploy["update_config"]["failure_action"] == "rollback"
        assert deploy["rollback_config"]["order"] == expected
        assert deploy["resources"]["limits"]["memory"] == f"{service.limits.memory_mb}M"
        # As compose.yaml writes it: a literal `$` doubled.
        assert doc["services"][service.name]["healthcheck"]["test"] == encode.compose_literals(
            list(service.healthcheck.test if service.healthcheck else ())
        )


def test_nothing_swarm_ignores_and_internal_stays_internal(
    stack_file: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = stack_file
    for service in doc["services"].values():
        assert not {"depends_on", "container_name", "restart", "mem_limit"} & set(service)
    assert doc["networks"]["internal"] == {"driver": "overlay", "internal": True}
    assert doc["networks"]["edge"] == {"driver": "overlay"}


def test_rendered_project_files_ship_as_configs_not_binds(
    stack_file: tuple[Path, dict[str, Any]],
) -> None:
    path, doc = stack_file
    proxy = doc["services"]["proxy"]
    assert not [v for v in proxy["volumes"] if isinstance(v, str) and v.startswith("./")]
    [caddyfile] = [c for c in proxy["configs"] if c["target"] == "/etc/caddy/Caddyfile"]
    shipped = doc["configs"][caddyfile["source"]]["file"]
    assert (path.parent / shipped).read_text().strip()


def test_the_proxy_reads_client_addresses_from_the_load_balancers_proxy_header_only(
    stack_file: tuple[Path, dict[str, Any]],
) -> None:
    path, doc = stack_file
    [caddyfile] = [
        c for c in doc["services"]["proxy"]["configs"] if c["target"] == "/etc/caddy/Caddyfile"
    ]
    shipped = path.parent / doc["configs"][caddyfile["source"]]["file"]
    done = subprocess.run(
        [CADDY, "adapt", "--config", str(shipped), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    servers = json.loads(done.stdout)["apps"]["http"]["servers"].values()
    # The HTTPS server only: the metrics server's scrapes and port 80 (whose
    # redirect server Caddy makes at run time) carry no header.
    (https,) = [s for s in servers if s["listen"] == [":443"]]
    # Before `tls`, or Caddy would read the header as a TLS handshake. Any other
    # address's header is ignored: the fallback policy's zero value, IGNORE,
    # which the JSON omits.
    assert https["listener_wrappers"] == [
        {"wrapper": "proxy_protocol", "allow": [f"{LOAD_BALANCER_IP}/32"]},
        {"wrapper": "tls"},
    ]
    assert all("listener_wrappers" not in s for s in servers if s is not https)
    check = [CADDY, "validate", "--config", str(shipped), "--adapter", "caddyfile"]
    validated = subprocess.run(check, capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr
