"""Services under mocks: every preset on every stack keeps the platform's rules."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from typing import Any

import pulumi_command as command
import pytest

from common.layout import HostLayout
from components.host import Host
from components.mail_records import mta_sts_id
from components.services.caddyfile import Route, Site, render_caddyfile
from components.services.compose import service_hash
from components.services.deploy import ComposeProject
from components.services.model import (
    Healthcheck,
    Image,
    Limits,
    Mount,
    Network,
    Port,
    Project,
    Role,
    Service,
    Update,
)
from components.services.presets import Relay, build_app
from components.services.project import ProjectParams, build_project
from mailstack.config import AppPreset, ConfigError, load_config
from mailstack.wiring import services_args
from tests.conftest import STACKS, RunStack, stack_config
from tests.services_cases import CASE_IDS, CASES, PRESET_SETTINGS, app_params, compose_of, runs
from tools.harness import Run, mask_secrets, run_program

__all__ = ["runs"]  # a shared fixture

SERVICE = "mailstack:services:ServiceDeployment"
DATA_ROLES = {Role.DATABASE.value, Role.CACHE.value, Role.STORAGE.value}


def deploy_steps(run: Run) -> dict[str, Any]:
    """Deploy command of each service, by service name."""
    by_urn = run.by_urn()
    return {
        by_urn[r.parent].name.removeprefix("services-"): r
        for r in run.registrations
        if r.parent in by_urn and by_urn[r.parent].type == SERVICE
    }


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_only_the_proxy_publishes_ports(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    services = compose_of(runs[(stack, preset)])["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy"}
    ports = services["proxy"]["ports"]
    if stack == "local":
        assert all(p.startswith("127.0.0.1:") for p in ports)
    else:
        assert sorted(ports) == ["443:443", "80:80"]


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_every_service_is_hardened(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    for name, s in compose_of(runs[(stack, preset)])["services"].items():
        role = s["labels"]["org.mailstack.role"]
        if role != Role.JOB.value:
            assert s["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
            assert s["restart"] == "unless-stopped", name
        assert s["mem_limit"].endswith("m") and int(s["mem_limit"][:-1]) > 0, name
        assert s["logging"] == {
            "driver": "json-file",
            "options": {"max-size": "10m", "max-file": "3"},
        }, name
        assert s["security_opt"] == ["no-new-privileges:true"], name
        assert s["cap_drop"] == ["ALL"], name
        assert "SYS_ADMIN" not in s.get("cap_add", []) and "NET_ADMIN" not in s.get("cap_add", [])
        assert ":" in s["image"] and not s["image"].endswith(":latest"), name
        assert s["pull_policy"] == "missing", name


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_data_services_are_on_the_internal_network_only(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    compose = compose_of(runs[(stack, preset)])
    assert compose["networks"]["internal"] == {"internal": True}
    data = {
        n: s
        for n, s in compose["services"].items()
        if s["labels"]["org.mailstack.role"] in DATA_ROLES
    }
    assert data, "every preset here has a database, cache or object store"
    for name, s in data.items():
        assert s["networks"] == ["internal"], name
    if stack == "local":
        # Locally the app cannot send mail anywhere but the sink: no egress.
        assert compose["services"]["mailpit"]["networks"] == ["internal"]
        apps = [
            s for s in compose["services"].values() if s["labels"]["org.mailstack.role"] == "app"
        ]
        assert all(s["networks"] == ["internal"] for s in apps)


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_deploy_steps_wait_for_the_host_and_follow_service_dependencies(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    run = runs[(stack, preset)]
    compose = compose_of(run)
    steps = deploy_steps(run)
    assert set(steps) == set(compose["services"])
    files = run.named("services-files")
    expected_type = "command:local:Command" if stack == "local" else "command:remote:Command"
    for name, step in steps.items():
        assert step.type == expected_type
        deps = set(step.dependencies)
        assert files.urn in deps, name
        for dep in compose["services"][name].get("depends_on", {}):
            assert steps[dep].urn in deps, f"{name} must deploy after {dep}"
        if stack != "local":
            assert run.named("server-cloud-init").urn in deps, name
            assert step.inputs["connection"], name
    if stack != "local":
        assert run.named("server-cloud-init").urn in files.dependencies


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_secrets_travel_only_on_stdin_and_in_private_env_files(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    run = runs[(stack, preset)]
    compose_text = run.artifacts["compose/compose.yaml"].text
    assert "<secret:" not in compose_text
    env_files = {p: a for p, a in run.artifacts.items() if p.startswith("compose/env/")}
    assert env_files
    for path, artifact in env_files.items():
        assert artifact.mode == 0o600 and artifact.secret, path
    for name, step in deploy_steps(run).items():
        # Placeholders stand where secret values go: none may sit in a plain input.
        assert "<secret:" not in json.dumps(mask_secrets(step.inputs)), name
        service = compose_of(run)["services"][name]
        if service.get("env_file"):
            assert mask_secrets(step.inputs["stdin"]) == "[secret]", name
        assert step.inputs["logging"] == "stderr"


@pytest.mark.parametrize("stack", STACKS)
def test_destroy_stops_the_project_and_keeps_its_volumes(
    stack_runs: dict[str, Run], stack: str
) -> None:
    files = stack_runs[stack].named("services-files")
    delete = files.inputs["delete"]
    (down,) = [shlex.split(line) for line in delete.splitlines() if " down" in line]
    assert down[:3] == ["docker", "compose", "-p"]
    assert down[3] == "${COMPOSE_PROJECT_NAME:-$default_project}" and down[4] == "down"
    (default,) = [line for line in delete.splitlines() if line.startswith("default_project=")]
    assert shlex.split(default.removeprefix("default_project=")) == [f"mailstack-{stack}"]
    assert not {"-v", "--volumes", "--rmi"} & set(down), "destroy must keep the data"
    # Only a fresh create marks a running project as taken over (a replacement).
    assert ".keep-running" in files.inputs["create"]
    assert ".keep-running" not in files.inputs["update"]
    assert "if [ -e .keep-running ]" in delete


def test_a_changed_app_image_retriggers_only_the_app_and_the_jobs_it_starts_after(
    run_stack: RunStack,
) -> None:
    before = deploy_steps(run_stack("prod"))
    after = deploy_steps(run_stack("prod", set={"appImage": "listmonk/listmonk:v5.0.4"}))
    changed = {n for n in before if before[n].inputs["triggers"] != after[n].inputs["triggers"]}
    # The new version's `--upgrade` runs before the new app starts, and the
    # settings job after it runs again (a job re-runs with the jobs it starts after).
    assert changed == {"app-install", "app-settings", "app"}


def test_a_new_volume_root_retriggers_exactly_the_services_with_volumes() -> None:
    app = app_params(
        image="ghcr.io/example/app:0.9.0",
        relay=Relay("smtp.example.com", 587),
        redis=True,
        storage=True,
        buckets=("uploads",),
        egress=True,
    )

    def hashes(volume_root: str) -> dict[str, str]:
        params = ProjectParams("mailstack-x", app, "app.example.com", volume_root=volume_root)
        project = build_project(params).project
        return {s.name: service_hash(s, project) for s in project.services}

    before, after = hashes("/srv/mailstack/volumes"), hashes("/mnt/data/volumes")
    changed = {name for name in before if before[name] != after[name]}
    with_volumes = {
        s.name for s in build_project(ProjectParams("p", app, "a.b")).project.services if s.volumes
    }
    assert changed == with_volumes == {"proxy", "redis", "storage"}


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_the_app_healthcheck_is_the_presets_or_the_configured_command(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    services = compose_of(runs[(stack, preset)])["services"]
    configured = PRESET_SETTINGS[preset].get("appHealthCommand")
    main = services["api" if preset == "web-api" else "app"]
    wget = ["CMD", "wget", "-q", "-O", "/dev/null"]
    expected = {
        "listmonk": [*wget, "http://127.0.0.1:9000/health"],
        "mailwizz": ["CMD", "php", "-r", "exit(@fsockopen('127.0.0.1', 9000) ? 0 : 1);"],
        "transactional-api": [*wget, "http://127.0.0.1:8000/healthz"],
        "custom": [*wget, "http://127.0.0.1:9000/"],  # appPort and appHealthPath defaults
    }
    if configured:
        expected[preset] = ["CMD", *(arg.replace("$", "$$") for arg in configured)]
    assert main["healthcheck"]["test"] == expected[preset]
    if preset == "web-api":
        assert services["web"]["healthcheck"]["test"] == [*wget, "http://127.0.0.1:3000/"]


@pytest.mark.parametrize(
    ("stack", "relay"),
    [
        ("local", {"SMTP_HOST": "mailpit", "SMTP_PORT": "1025", "SMTP_USERNAME": ""}),
        (
            "prod",
            {
                "SMTP_HOST": "email-smtp.eu-central-1.amazonaws.com",
                "SMTP_PORT": "587",
                "SMTP_USERNAME": "AKIAEXAMPLESMTPUSER",
            },
        ),
    ],
)
def test_listmonk_gets_the_stack_relay_before_it_starts(
    stack_runs: dict[str, Run], stack: str, relay: dict[str, str]
) -> None:
    services = compose_of(stack_runs[stack])["services"]
    job = services["app-settings"]
    assert job["labels"]["org.mailstack.role"] == Role.JOB.value
    assert {k: job["environment"][k] for k in relay} == relay
    auth, tls = ("none", "none") if stack == "local" else ("plain", "STARTTLS")
    assert (job["environment"]["SMTP_AUTH"], job["environment"]["SMTP_TLS"]) == (auth, tls)
    secrets = {"PGPASSWORD"} | (set() if stack == "local" else {"SMTP_PASSWORD"})
    assert set(job["x-secret-env"]) == secrets
    # psql reads the script and the environment: nothing secret on its command line.
    assert job["command"] == ["psql", "-q", "-f", "/setup/listmonk-settings.sql"]
    assert "./listmonk-settings.sql:/setup/listmonk-settings.sql:ro" in job["volumes"]
    # Schema first, then the settings, then the app, which reads them at start.
    assert job["depends_on"] == {"app-install": {"condition": "service_completed_successfully"}}
    assert services["app"]["depends_on"]["app-settings"] == {
        "condition": "service_completed_successfully"
    }
    assert "LISTMONK_ADMIN_PASSWORD" not in services["app"]["x-secret-env"]


@pytest.mark.parametrize("stack", STACKS)
def test_listmonk_is_never_running_twice_during_an_update(
    runs: dict[tuple[str, str], Run], stack: str
) -> None:
    """listmonk allows one running instance per database (knadh/listmonk#2052):
    two would both process a running campaign and mail its subscribers twice.
    So its deploy step recreates the app (stop, then start) and never scales it up."""
    (app,) = [
        s for s in build_app(app_params(preset=AppPreset.LISTMONK)).services if s.name == "app"
    ]
    assert app.update is Update.RECREATE
    step = deploy_steps(runs[(stack, "listmonk")])["app"].inputs["create"]
    assert "--scale" not in step
    assert "docker compose up -d --no-deps --wait app;" in step


def test_a_changed_caddyfile_retriggers_only_the_proxy_step(run_stack: RunStack) -> None:
    before = deploy_steps(run_stack("prod"))
    after = deploy_steps(run_stack("prod", set={"adminCidrs": ["192.0.2.0/24"]}))
    changed = {n for n in before if before[n].inputs["triggers"] != after[n].inputs["triggers"]}
    assert changed == {"proxy"}


def test_the_local_stack_exports_its_urls(stack_runs: dict[str, Run]) -> None:
    outputs = stack_runs["local"].outputs
    assert outputs["appUrl"] == "http://localhost:8080"
    assert outputs["mailSinkUrl"] == "http://localhost:8025"
    assert stack_runs["prod"].outputs["appUrl"] == "https://app.example.com"


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_the_app_admin_password_is_a_secret_output_only_where_generated(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    """listmonk's `admin` password is generated on the first install: operators
    read it with `pulumi stack output --show-secrets appAdminPassword`."""
    run = runs[(stack, preset)]
    if preset == "listmonk":
        assert "appAdminPassword" in run.secret_outputs
        # The very password the install job creates the admin user with.
        env_file = run.artifacts["compose/env/app-install.env"].text
        assert f"LISTMONK_ADMIN_PASSWORD='{run.outputs['appAdminPassword']}'" in env_file
    else:
        assert "appAdminPassword" not in run.outputs


def test_server_volumes_live_on_the_data_volume(stack_runs: dict[str, Run]) -> None:
    volumes = compose_of(stack_runs["prod"])["volumes"]
    for name, volume in volumes.items():
        assert volume["driver_opts"]["device"] == f"/srv/mailstack/volumes/{name}"


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_the_proxy_serves_the_mta_sts_policy_dns_announces(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    run = runs[(stack, preset)]
    caddyfile = run.artifacts["compose/Caddyfile"].text
    served = run.artifacts.get("compose/mta-sts.txt")
    if stack == "local" or not PRESET_SETTINGS[preset].get("mtaSts"):
        assert served is None and "mta-sts." not in caddyfile
        return
    assert served is not None
    assert served.text == run.artifacts["dns/mta-sts.txt"].text
    domain = run.outputs["appUrl"].removeprefix("https://app.")
    (txt,) = [r for r in run.registrations if r.inputs.get("name") == f"_mta-sts.{domain}"]
    assert txt.inputs["content"] == f'"v=STSv1; id={mta_sts_id(served.text)}"'
    assert f"\nmta-sts.{domain} {{\n" in caddyfile
    proxy = compose_of(run)["services"]["proxy"]
    assert "./mta-sts.txt:/srv/mta-sts/.well-known/mta-sts.txt:ro" in proxy["volumes"]


def _stack_of(stack: str, **edits: Any) -> tuple[Run, ComposeProject]:
    """Evaluate just the services of `stack` on a stand-in server host."""
    built: list[ComposeProject] = []

    def program() -> None:
        host = Host(
            "server",
            connection=command.remote.ConnectionArgs(host="192.0.2.10", user="mailstack"),
            layout=HostLayout.for_stack(stack),
        )
        built.append(ComposeProject("services", services_args(load_config(), host)))

    config, secret_keys = stack_config(stack, **edits)
    run = run_program(stack, config, secret_keys, program=program)
    return run, built[0]


def test_the_proxy_serves_backup_health_from_the_host_status_dir() -> None:
    run, services = _stack_of("prod")
    assert services.backup_health_url == "https://app.example.com/healthz/backup"
    proxy = compose_of(run)["services"]["proxy"]
    assert "/srv/mailstack/status:/srv/backup-status:ro" in proxy["volumes"]
    caddyfile = run.artifacts["compose/Caddyfile"].text
    site = caddyfile.split("\napp.example.com {\n", 1)[1]
    # Public: answered before the admin check, whatever the admin paths are.
    assert site.index("handle /healthz/backup {") < site.index("@admin_denied {")
    assert "root * /srv/backup-status" in site


def test_no_backup_health_endpoint_without_backups() -> None:
    run, services = _stack_of("dev", set={"backupEnabled": False})
    assert services.backup_health_url is None
    proxy = compose_of(run)["services"]["proxy"]
    assert not [v for v in proxy["volumes"] if "status" in v]
    assert "/healthz/backup" not in run.artifacts["compose/Caddyfile"].text


def _mount_options(spec: str) -> tuple[str, set[str]]:
    """(host source, options) of a compose short-syntax volume."""
    source, _target, *options = spec.split(":")
    return source, set(options[0].split(",")) if options else set()


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_servers_export_host_metrics_internally_and_read_only(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    services = compose_of(runs[(stack, preset)])["services"]
    if stack == "local":
        assert "node-exporter" not in services
        return
    exporter = services["node-exporter"]
    assert exporter["image"].startswith("prom/node-exporter:v1.8.2@sha256:")
    assert "ports" not in exporter and "expose" not in exporter
    assert exporter["networks"] == ["internal"]
    mounts = dict(_mount_options(v) for v in exporter["volumes"])
    assert all("ro" in options for options in mounts.values()), exporter["volumes"]
    assert mounts == {
        "/proc": {"ro"},
        "/sys": {"ro"},
        "/": {"ro", "rslave"},
        "/var/lib/mailstack-backup/metrics": {"ro"},
    }
    assert exporter["command"] == [
        "--path.procfs=/host/proc",
        "--path.sysfs=/host/sys",
        "--path.rootfs=/rootfs",
        "--collector.textfile.directory=/var/lib/node_exporter/textfile_collector",
    ]
    textfiles = "/var/lib/mailstack-backup/metrics:/var/lib/node_exporter/textfile_collector:ro"
    assert textfiles in exporter["volumes"]
    assert exporter["user"] == "65534:65534"
    assert exporter["read_only"] is True and "cap_add" not in exporter
    assert exporter["healthcheck"]["test"] == [
        "CMD",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "http://127.0.0.1:9100/",
    ]
    # The app does not wait for, or fall with, its monitoring.
    assert "node-exporter" not in services["proxy"].get("depends_on", {})


def test_metrics_are_served_to_admin_sources_only_before_any_proxying(
    run_stack: RunStack,
) -> None:
    run = run_stack("prod", set={"tailscale": True}, secrets={"tailscaleAuthKey": "tskey"})
    site = run.artifacts["compose/Caddyfile"].text.split("\napp.example.com {\n", 1)[1]
    denied = site[site.index("@admin_denied {") : site.index("handle @admin_denied {")]
    monitoring = "/prometheus* /alertmanager* /grafana*"
    assert f"\t\t\tpath /admin /admin/* /api/* /metrics {monitoring}\n" in denied
    assert "\t\t\tnot remote_ip 198.51.100.7/32 100.64.0.0/10\n" in denied
    metrics = site[site.index("handle /metrics {") :].split("\n\t\t}\n", 1)[0]
    assert "name node-exporter" in metrics and "port 9100" in metrics
    # The 403 comes first: `route` runs its blocks in the order written.
    assert site.index("handle @admin_denied {") < site.index("handle /metrics {")
    assert site.count("handle /metrics {") == 1


def test_the_stack_names_its_metrics_url() -> None:
    _, services = _stack_of("prod")
    assert services.metrics_url == "https://app.example.com/metrics"
    assert "node-exporter" in services.services


def test_monitoring_off_removes_the_exporter_and_its_route() -> None:
    run, services = _stack_of("prod", set={"monitoring": False})
    assert services.metrics_url is None
    assert "node-exporter" not in services.services
    assert "node-exporter" not in compose_of(run)["services"]
    caddyfile = run.artifacts["compose/Caddyfile"].text
    assert "/metrics" not in caddyfile and "node-exporter" not in caddyfile
    # The app's own admin paths keep their check.
    assert "path /admin /admin/* /api/*\n" in caddyfile


def test_without_backups_the_exporter_reads_no_textfiles() -> None:
    run, services = _stack_of("dev", set={"backupEnabled": False})
    exporter = compose_of(run)["services"]["node-exporter"]
    assert [_mount_options(v)[0] for v in exporter["volumes"]] == ["/proc", "/sys", "/"]
    assert not [a for a in exporter["command"] if "textfile" in a]
    assert services.metrics_url == "https://app.dev.example.com/metrics"


def test_the_local_stack_runs_no_exporter(run_stack: RunStack) -> None:
    run = run_stack("local", set={"monitoring": True})
    assert "node-exporter" not in compose_of(run)["services"]
    assert "/metrics" not in run.artifacts["compose/Caddyfile"].text


def test_metrics_without_admin_cidrs_are_refused() -> None:
    site = Site(
        project="p",
        app_host="app.example.com",
        routes=(Route("app", 9000),),
        metrics=Route("node-exporter", 9100),
    )
    with pytest.raises(ValueError, match="/metrics needs admin CIDRs"):
        render_caddyfile(site)


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_www_redirects_to_the_app_host_when_asked(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    caddyfile = runs[(stack, preset)].artifacts["compose/Caddyfile"].text
    if stack == "local" or not PRESET_SETTINGS[preset].get("wwwRedirect"):
        assert "redir " not in caddyfile
        return
    domain = runs[(stack, preset)].outputs["appUrl"].removeprefix("https://app.")
    block = f"\nwww.{domain} {{\n\tredir https://app.{domain}{{uri}} permanent\n}}\n"
    assert block in caddyfile


def test_servers_take_certificates_only_from_lets_encrypt(stack_runs: dict[str, Run]) -> None:
    """CAA allows letsencrypt.org alone: no fallback issuer (Caddy's is ZeroSSL)."""
    for stack in ("dev", "prod"):
        options = stack_runs[stack].artifacts["compose/Caddyfile"].text.split("\n}\n", 1)[0]
        issuers = [line.split() for line in options.splitlines() if "cert_issuer" in line]
        assert issuers == [["cert_issuer", "acme"]], stack
    assert "cert_issuer" not in stack_runs["local"].artifacts["compose/Caddyfile"].text


def test_admin_paths_are_limited_to_admin_cidrs(run_stack: RunStack) -> None:
    run = run_stack("prod", set={"tailscale": True}, secrets={"tailscaleAuthKey": "tskey"})
    caddyfile = run.artifacts["compose/Caddyfile"].text
    assert "not remote_ip 198.51.100.7/32 100.64.0.0/10" in caddyfile
    assert "path /admin /admin/* /api/*" in caddyfile
    assert "Strict-Transport-Security" in caddyfile


@pytest.mark.parametrize(
    ("edits", "key"),
    [
        ({"app": "web-api", "appImage": "ghcr.io/x/api:1.0.0"}, "appWebImage"),
        ({"app": "transactional-api"}, "appImage"),
        ({"appImage": "listmonk/listmonk:latest"}, "appImage"),
        ({"localMailUiPort": 8080}, "localMailUiPort"),
        ({"appHealthCommand": ["curl", ""]}, r"appHealthCommand\[1\]"),
    ],
)
def test_bad_service_config_names_the_key(
    run_stack: RunStack, edits: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError, match=f"mailstack:{key}:"):
        run_stack("local", set=edits)


def _service(**overrides: Any) -> Service:
    fields: dict[str, Any] = {
        "name": "x",
        "role": Role.APP,
        "image": Image("example/x", "1.0"),
        "limits": Limits(memory_mb=64),
        "healthcheck": Healthcheck(("CMD", "true")),
    }
    return Service(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ports": (Port(5432, 5432),)}, "only the proxy publishes ports"),
        ({"healthcheck": None}, "needs a healthcheck"),
        ({"role": Role.DATABASE, "networks": (Network.EDGE,)}, "internal network only"),
        ({"role": Role.DATABASE, "update": Update.START_FIRST}, "only stateless app"),
        ({"environment": {"A": "1"}, "secret_env": {"A": None}}, "both plainly and as secrets"),
        (
            {"role": Role.METRICS, "networks": (Network.INTERNAL, Network.EDGE)},
            "exporter stays internal",
        ),
        ({"role": Role.METRICS, "mounts": (Mount("/", "/rootfs"),)}, "read-only mounts only"),
    ],
)
def test_the_model_refuses_unsafe_services(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _service(**overrides)


@pytest.mark.parametrize("ref", ["example/x", "example/x:latest", "localhost:5000/x"])
def test_images_must_pin_a_tag(ref: str) -> None:
    with pytest.raises(ValueError, match="must pin a tag"):
        Image.parse(ref)


def test_a_project_needs_one_proxy_and_known_dependencies() -> None:
    with pytest.raises(ValueError, match="exactly one proxy"):
        Project("p", (_service(),))
    with pytest.raises(ValueError, match="unknown 'db'"):
        Project("p", (_service(depends_on={"db": "service_healthy"}),))


_LOCAL_SITE = Site(project="p", app_host="", routes=(Route("app", 9000),))


@pytest.mark.parametrize(
    "site",
    [replace(_LOCAL_SITE, www_host="www.x.y"), replace(_LOCAL_SITE, mta_sts_host="mta-sts.x.y")],
)
def test_the_caddyfile_needs_a_public_host_for_www_and_mta_sts(site: Site) -> None:
    with pytest.raises(ValueError, match="public host name"):
        render_caddyfile(site)


def test_only_a_load_balanced_server_reads_proxy_headers() -> None:
    with pytest.raises(ValueError, match="no load balancer"):
        render_caddyfile(replace(_LOCAL_SITE, proxy_protocol_from=("10.42.0.2/32",)))
    public = replace(_LOCAL_SITE, app_host="app.x.y")
    assert "proxy_protocol" not in render_caddyfile(public)
    balanced = render_caddyfile(replace(public, proxy_protocol_from=("10.42.0.2/32",)))
    wrapper = "proxy_protocol {\n\t\t\t\tallow 10.42.0.2/32\n\t\t\t\tfallback_policy ignore\n"
    assert "\tservers :443 {\n" in balanced and wrapper in balanced
