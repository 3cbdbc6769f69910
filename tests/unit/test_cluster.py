"""The three-node stack under mocks: nodes, network, load balancer, Swarm steps.

Three pools with the manager on the edge and backups off; and the example's
shape (the db node a manager, backups on it, the web-api preset) at the end.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
from functools import partial
from pathlib import Path

import pytest
import yaml

from common.encode import UnencodableError, cli_env_file_line
from common.topology import Role
from components.backup_sources import BackupSource, SourceKind, swarm_app_control, swarm_reach
from components.services import kinds
from components.services.model import Condition, Image, Limits, Project, Service, random_secret
from components.services.model import Role as ServiceRole
from components.swarm_steps import (
    render_engine_step,
    render_init_step,
    render_join_step,
    render_members_step,
    render_stack_deploy_step,
    render_volume_dirs_step,
)
from tests.conftest import RunStack, stack_config
from tests.unit.test_topology import BACKED_UP, THREE, refused_before_any_resource
from tools.fakes import _command
from tools.harness import ROOT, Run, mask_secrets, run_program

SWARM = {"nodePools": THREE, "backupEnabled": False}
NODES = ("edge-1", "app-1", "db-1")


@pytest.fixture(scope="module")
def three() -> Run:
    config, secret_keys = stack_config("dev", set=SWARM)
    return run_program("dev", config, secret_keys)


def _tokens() -> list[str]:
    return str(_command("swarm-init", {})["stdout"]).split()


def test_one_server_per_node_on_the_private_network(three: Run) -> None:
    servers = three.of_type("hcloud:index/server:Server")
    assert sorted(s.name for s in servers) == sorted(f"{n}-server" for n in NODES)
    attach = {r.name: r for r in three.of_type("hcloud:index/serverNetwork:ServerNetwork")}
    subnet = three.named("cluster-subnet")
    assert subnet.inputs["ipRange"] == "10.42.0.0/17"
    assert {name: r.inputs["ip"] for name, r in attach.items()} == {
        "cluster-edge-1-network": "10.42.1.10",
        "cluster-app-1-network": "10.42.2.10",
        "cluster-db-1-network": "10.42.3.10",
    }
    # Attached through the subnet (so it exists first), not the network.
    assert all(subnet.urn in r.property_dependencies["subnetId"] for r in attach.values())


def test_only_the_db_node_has_the_configured_volume(three: Run) -> None:
    sizes = {r.name: r.inputs["size"] for r in three.of_type("hcloud:index/volume:Volume")}
    assert sizes == {"edge-1-data": 10, "app-1-data": 10, "db-1-data": 20}


def test_the_load_balancer_targets_the_proxy_nodes_privately(three: Run) -> None:
    targets = three.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget")
    assert [t.name for t in targets] == ["cluster-lb-target-edge-1"]
    (target,) = targets
    assert target.inputs["usePrivateIp"] is True
    # Both ends on the network before a private target can exist.
    assert three.named("cluster-lb-network").urn in target.dependencies
    assert three.named("cluster-edge-1-network").urn in target.dependencies
    services = {
        r.inputs["listenPort"]: r.inputs
        for r in three.of_type("hcloud:index/loadBalancerService:LoadBalancerService")
    }
    assert sorted(services) == [80, 443]
    for port, inputs in services.items():
        assert inputs["protocol"] == "tcp" and inputs["destinationPort"] == port
        assert inputs["healthCheck"]["protocol"] == "tcp"
        assert inputs["healthCheck"]["port"] == port
        # The client's address, for the proxy's admin paths, on HTTPS only (the
        # Caddyfile's proxy_protocol wrapper: tests/artifacts/test_swarm_artifacts.py).
        assert inputs["proxyprotocol"] is (port == 443)


def test_dns_points_at_the_load_balancer(three: Run) -> None:
    lb_ipv4 = three.outputs["loadBalancerIpv4"]
    app = three.named("mail-domain-app-a")
    assert app.inputs["content"] == lb_ipv4
    node_ips = {v["ipv4"] for v in three.outputs["nodes"].values()}
    assert lb_ipv4 not in node_ips


def test_swarm_ports_admit_the_private_subnet_only(three: Run) -> None:
    for node in NODES:
        access = three.artifacts[f"nodes/{node}/host/access.sh"].text
        for spec in (
            "proto tcp from 10.42.0.0/17 to any port 2377",
            "proto tcp from 10.42.0.0/17 to any port 7946",
            "proto udp from 10.42.0.0/17 to any port 7946",
            "proto udp from 10.42.0.0/17 to any port 4789",
        ):
            assert spec in access
        for port in ("2377", "7946", "4789"):
            lines = [line for line in access.splitlines() if f"port {port}" in line]
            assert lines and all("from 10.42.0.0/17" in line for line in lines)
    # The cloud firewall (public side) never names a Swarm port.
    for firewall in three.of_type("hcloud:index/firewall:Firewall"):
        ports = {rule.get("port") for rule in firewall.inputs["rules"]}
        assert ports.isdisjoint({"2377", "7946", "4789"})


def test_joins_wait_for_the_network_and_take_the_token_from_init(three: Run) -> None:
    init = three.named("swarm-init")
    assert "stdout" in init.additional_secret_outputs
    for node in ("app-1", "db-1"):
        join = three.named(f"swarm-join-{node}")
        assert three.named(f"cluster-{node}-network").urn in join.dependencies
        # A property dependency, not depends_on: a replaced first manager (a new
        # Swarm, new tokens) changes the join's input and runs it again.
        assert init.urn in join.property_dependencies["stdin"]
        assert "stdin" in join.additional_secret_outputs
        assert mask_secrets(join.inputs["stdin"]) != join.inputs["stdin"]
    assert three.named("cluster-edge-1-network").urn in init.dependencies
    stack = three.named("swarm-stack")
    assert three.named("swarm-members").urn in stack.dependencies


def test_no_join_token_in_clear_anywhere(three: Run) -> None:
    worker, manager = _tokens()
    for reg in three.registrations:
        plain = json.dumps(mask_secrets(reg.inputs))
        assert worker not in plain and manager not in plain, reg.name
    for path, artifact in three.artifacts.items():
        assert worker not in artifact.text and manager not in artifact.text, path
        assert "SWMTKN" not in artifact.text, path


def test_user_data_carries_no_swarm(three: Run) -> None:
    for node in NODES:
        user_data = three.artifacts[f"nodes/{node}/cloud-init/user-data.yaml"].text
        assert "swarm" not in user_data.lower()


def test_swarm_steps_have_no_delete_that_dials_a_gone_host(three: Run) -> None:
    steps = [r for r in three.of_type("command:remote:Command") if r.name.startswith("swarm")]
    assert len(steps) >= 8
    assert [r.name for r in steps if r.inputs.get("delete")] == []


def test_a_second_run_registers_the_same_inputs(three: Run) -> None:
    config, secret_keys = stack_config("dev", set=SWARM)
    again = run_program("dev", config, secret_keys)
    assert {r.urn: r.inputs for r in again.registrations} == {
        r.urn: r.inputs for r in three.registrations
    }


def test_single_server_stacks_register_no_cluster(run_stack: RunStack) -> None:
    run = run_stack("dev")
    assert not [r for r in run.registrations if r.type.startswith("mailstack:swarm")]
    assert not run.of_type("hcloud:index/serverNetwork:ServerNetwork")


@pytest.mark.parametrize(
    ("edits", "key"),
    [
        ({"nodePools": THREE}, "nodePools"),
        ({**SWARM, "app": "mailwizz"}, "app"),
    ],
)
def test_what_is_not_built_is_refused_before_any_resource(
    edits: dict[str, object], key: str
) -> None:
    assert key in [p.key for p in refused_before_any_resource(edits)]


def _shellcheck(script: str, tmp_path: Path) -> None:
    path = tmp_path / "step.sh"
    path.write_text(script)
    done = subprocess.run(
        ["shellcheck", "--shell=sh", "--severity=style", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    "script",
    [
        render_engine_step(),
        render_init_step("10.42.1.10"),
        render_join_step("10.42.2.10", "10.42.1.10"),
        render_members_step((Role.MANAGER, Role.PROXY), {"abc123": (Role.APP,)}),
        render_volume_dirs_step({"/srv/mailstack/volumes/db": "999:999"}),
        render_stack_deploy_step(
            "mailstack-dev", "/srv/mailstack/stack", {"stack.yaml": "a: 1\n"}, "stack.yaml", ["j"]
        ),
    ],
)
def test_swarm_steps_pass_shellcheck(script: str, tmp_path: Path) -> None:
    _shellcheck(script, tmp_path)


def test_the_join_token_never_reaches_a_command_line() -> None:
    script = render_join_step("10.42.2.10", "10.42.1.10")
    assert "docker swarm join" not in script
    assert "--token" not in script
    assert '"$token"' in script and "token=$(cat)" in script


def test_swarm_env_files_are_in_the_docker_cli_format(three: Run) -> None:
    """`docker stack deploy` reads env files as `docker run --env-file` does: a
    compose-style quote would become part of the password."""
    bundle = three.named("swarm-stack").inputs["stdin"]
    assert mask_secrets(bundle) != bundle
    lines = [line.split(" ") for line in bundle["value"].splitlines()]
    assert lines and all(path.startswith("env/") for path, _ in lines)
    for _, data in lines:
        for entry in base64.b64decode(data).decode().splitlines():
            name, _, value = entry.partition("=")
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and value
            assert not value.startswith(("'", '"')), entry


def test_a_line_break_cannot_reach_a_swarm_env_file() -> None:
    with pytest.raises(UnencodableError):
        cli_env_file_line("SMTP_PASSWORD", "a\nB=c")
    assert cli_env_file_line("SMTP_PASSWORD", 'it\'s "x"') == 'SMTP_PASSWORD=it\'s "x"'


# --- backups on the db node -------------------------------------------------------

BACKED_UP_WEB_API = {
    "nodePools": BACKED_UP,
    "app": "web-api",
    "appImage": "ghcr.io/acme/api:1.0",
    "appWebImage": "ghcr.io/acme/web:1.0",
    "appPort": 4000,
    "appHealthPath": "/api/health",
}
"""The example's shape on dev: the db node is the manager, the app keeps no volume."""


@pytest.fixture(scope="module")
def backed_up() -> Run:
    config, secret_keys = stack_config("dev", set=BACKED_UP_WEB_API)
    return run_program("dev", config, secret_keys)


def _backup_conf(run: Run) -> dict[str, str]:
    """The rendered config's scalar settings (bash assignments, single-quoted)."""
    text = run.artifacts["backup/backup.conf"].text
    return {
        name: shlex.split(value)[0] if value else ""
        for name, _, value in (
            line.partition("=") for line in text.splitlines() if re.match(r"[A-Z_]+=", line)
        )
    }


def test_the_backups_install_on_the_db_node_with_the_swarm_helper(backed_up: Run) -> None:
    steps = [r for r in backed_up.registrations if r.name.startswith("backup-")]
    assert {r.name for r in steps} >= {"backup-script-swarm", "backup-metrics-dir", "backup-init"}
    for step in steps:
        hosts = {u.rsplit("::", 1)[1] for u in step.property_dependencies["connection"]}
        assert hosts == {"db-1-ipv4", "db-1-deploy-key"}, step.name
    assert (
        backed_up.artifacts["backup/bin/mailstack-swarm"].text
        == (ROOT / "assets" / "backup" / "mailstack-swarm").read_text()
    )
    assert backed_up.outputs["backup"]["enabled"] is True


def test_the_db_nodes_databases_are_dumped_through_their_tasks_and_its_volumes_saved(
    backed_up: Run,
) -> None:
    body = backed_up.artifacts["backup/backup.conf"].text.split("BACKUP_SOURCES=(", 1)[1]
    sources = [shlex.split(line)[0] for line in body.split(")", 1)[0].strip().splitlines()]
    assert sources == [
        "postgres db app /usr/local/sbin/mailstack-swarm exec -e PGUSER=app mailstack-dev_db",
        # Redis and the S3 store run on the db node; the proxy's certificates
        # (edge node) are issued again, and monitoring keeps no data worth a restore.
        "files redis-data /srv/mailstack/volumes/redis-data",
        "files storage-data /srv/mailstack/volumes/storage-data",
    ]


def test_a_restore_scales_the_app_down_and_back_in_dependency_order(backed_up: Run) -> None:
    conf = _backup_conf(backed_up)
    helper = "/usr/local/sbin/mailstack-swarm"
    p = "mailstack-dev_"
    assert conf["BACKUP_APP_STOP"] == (
        f"{helper} stop {p}storage-buckets {p}redis {p}storage {p}api {p}web"
    )
    # The bucket job needs the store, and the API needs the job: store first
    # (healthy), then the job to its end, then the app on both app nodes.
    assert conf["BACKUP_APP_START"] == (
        f"{helper} start {p}redis=1 {p}storage=1 --job {p}storage-buckets {p}api=2 {p}web=2"
    )
    assert conf["BACKUP_APP_HEALTH"] == (
        f"{helper} healthy {p}db=1 {p}redis=1 {p}storage=1 {p}api=2 {p}web=2"
    )


def test_the_stack_waits_for_the_exporters_metrics_folder_and_serves_no_backup_status(
    backed_up: Run,
) -> None:
    stack = backed_up.named("swarm-stack")
    assert backed_up.named("backup-metrics-dir").urn in stack.dependencies
    doc = yaml.safe_load(backed_up.artifacts["swarm/stack.yaml"].text)
    # The exporter runs on the db node (the only monitoring node), beside the gauges.
    assert (
        "/var/lib/mailstack-backup/metrics:/var/lib/node_exporter/textfile_collector:ro"
        in (doc["services"]["node-exporter"]["volumes"])
    )
    # The status folder is the db node's: the proxy on the edge could not bind it.
    assert not [v for v in doc["services"]["proxy"]["volumes"] if "backup-status" in str(v)]
    assert "backupHealthUrl" not in backed_up.outputs


def test_a_restore_starts_each_job_after_what_it_needs_even_behind_another_job() -> None:
    """migrate (job) -> api -> seed (job) -> worker: seed needs the API running,
    which needs migrate done; one walk in dependency order gives the helper that."""
    image = Image.parse("example.org/app:1")
    check = kinds.http_check(8080, "/health")
    db = kinds.postgres("db", database="app", user="app", password=random_secret("db"))
    job = partial(Service, role=ServiceRole.JOB, image=image, limits=Limits(memory_mb=64))
    app = partial(Service, image=image, limits=Limits(memory_mb=64), healthcheck=check)
    project = Project(
        "ms",
        (
            kinds.caddy((), {}),
            db,
            job(name="migrate", depends_on={"db": Condition.HEALTHY}),
            app(name="api", role=ServiceRole.APP, depends_on={"migrate": Condition.COMPLETED}),
            job(name="seed", depends_on={"api": Condition.HEALTHY}),
            app(name="worker", role=ServiceRole.WORKER, depends_on={"seed": Condition.COMPLETED}),
        ),
    )
    sources = (BackupSource(SourceKind.POSTGRES, "db", "app"),)
    counts = {"db": 1, "migrate": 1, "api": 2, "seed": 1, "worker": 1}
    control = swarm_app_control(project, sources, counts, swarm_reach(project, "/bin"))
    assert (
        control.start
        == "/bin/mailstack-swarm start --job ms_migrate ms_api=2 --job ms_seed ms_worker=1"
    )
    assert control.stop == "/bin/mailstack-swarm stop ms_migrate ms_seed ms_api ms_worker"
    assert control.health == "/bin/mailstack-swarm healthy ms_db=1 ms_api=2 ms_worker=1"


def test_with_backups_the_exporter_must_run_beside_the_backup_gauges() -> None:
    """Elsewhere it could not read them, and BackupStale/BackupFailed would never fire."""
    pools = ["edge:1:cx23:proxy+app+monitoring", "db:1:cx33:manager+db"]
    (problem,) = refused_before_any_resource({**BACKED_UP_WEB_API, "nodePools": pools})
    assert problem.key == "nodePools"
    assert "monitoring role must be on the db node alone (now: edge-1)" in problem.message


def _fake_docker(tmp_path: Path, state: str, manager: bool) -> Path:
    """A `docker` that answers `docker info` as a node in `state` and logs every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        'case "$*" in\n'
        f"  *LocalNodeState*) cat {tmp_path}/state ;;\n"
        f"  *ControlAvailable*) echo {'true' if manager else 'false'} ;;\n"
        f"  'swarm leave --force') echo inactive > {tmp_path}/state ;;\n"
        f"  'swarm init '*) echo active > {tmp_path}/state ;;\n"
        "  'swarm join-token -q worker') echo SWMTKN-1-abc-worker ;;\n"
        "  'swarm join-token -q manager') echo SWMTKN-1-abc-manager ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    (tmp_path / "state").write_text(f"{state}\n")
    return bin_dir


@pytest.mark.parametrize(
    ("state", "manager", "expected"),
    [
        ("inactive", False, ["swarm init"]),
        # The manager role moved to this node (backups turned on): it leaves the
        # old Swarm as a worker and starts a new one.
        ("active", False, ["swarm leave --force", "swarm init"]),
        # An existing first manager: nothing is initialised again.
        ("active", True, []),
    ],
)
def test_the_init_step_makes_its_node_the_first_manager(
    tmp_path: Path, state: str, manager: bool, expected: list[str]
) -> None:
    bin_dir = _fake_docker(tmp_path, state, manager)
    done = subprocess.run(
        ["sh", "-c", render_init_step("10.42.3.10")],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SWMTKN-1-abc-worker", "SWMTKN-1-abc-manager"]
    calls = (tmp_path / "calls").read_text().splitlines()
    changes = [c for c in calls if c.startswith(("swarm leave", "swarm init"))]
    assert [c.split(" --")[0] if c.startswith("swarm init") else c for c in changes] == expected


@pytest.mark.parametrize(
    "text", ["a: 1\nMAILSTACK_EOF\nb: 2\n", "a: 1"], ids=["end line", "no final newline"]
)
def test_the_stack_step_refuses_a_file_its_heredoc_cannot_carry(text: str) -> None:
    with pytest.raises(UnencodableError, match="MAILSTACK_EOF"):
        render_stack_deploy_step("p", "/srv/s", {"stack.yaml": text}, "stack.yaml", [])
