"""The monitoring stack in the rendered compose project: on for servers, one key
for the local stack, admin-only, unpublished, small, its secrets in env files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from components.monitoring import paths
from tests.caddy import CADDY
from tests.conftest import RunStack

MONITORING = {"prometheus", "alertmanager", "blackbox", "cadvisor", "grafana"}
BUDGET_MIB = 350


def _compose(run_stack: RunStack, stack: str, **edits: object) -> dict[str, dict[str, Any]]:
    run = run_stack(stack, **edits)
    services: dict[str, dict[str, Any]] = yaml.safe_load(
        run.artifacts["compose/compose.yaml"].text
    )["services"]
    return services


def test_servers_run_the_whole_stack_unpublished_pinned_and_within_budget(
    run_stack: RunStack,
) -> None:
    for stack in ("dev", "prod"):
        services = _compose(run_stack, stack)
        assert set(services) >= MONITORING, stack
        limits = 0
        for name in MONITORING:
            s = services[name]
            assert "ports" not in s, name
            assert s["read_only"] is True and s["cap_drop"] == ["ALL"], name
            assert "cap_add" not in s, name
            assert ":" in str(s["image"]) and not str(s["image"]).endswith(":latest"), name
            limits += int(str(s["mem_limit"]).removesuffix("m"))
        assert limits <= BUDGET_MIB
        # Only what must reach the outside (probes; mail through the relay) joins edge.
        for name in ("prometheus", "grafana", "cadvisor"):
            assert services[name]["networks"] == ["internal"], name
        for name in ("alertmanager", "blackbox"):
            assert services[name]["networks"] == ["edge", "internal"], name
        # The app never waits for its monitoring.
        assert not MONITORING & set(services["proxy"].get("depends_on", {}))


def test_monitoring_can_be_switched_off_on_servers(run_stack: RunStack) -> None:
    services = _compose(run_stack, "prod", set={"monitoring": False})
    assert not MONITORING & set(services)


def test_the_local_stack_runs_it_only_with_its_key(run_stack: RunStack) -> None:
    assert not MONITORING & set(_compose(run_stack, "local"))
    run = run_stack("local", set={"localMonitoring": True})
    services = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)["services"]
    # Locally nothing watches the developer's machine: no cAdvisor, no node_exporter.
    assert MONITORING - {"cadvisor"} <= set(services) and "cadvisor" not in services
    assert all(services[n]["networks"] == ["internal"] for n in MONITORING - {"cadvisor"})
    caddyfile = run.artifacts["compose/Caddyfile"].text
    assert " /prometheus* /alertmanager* /grafana*\n" in caddyfile
    assert "not remote_ip 127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16" in caddyfile
    alertmanager = yaml.safe_load(run.artifacts["compose/monitoring/alertmanager.yml"].text)
    assert alertmanager["global"]["smtp_smarthost"] == "mailpit:1025"


def test_alertmanager_gets_its_secrets_from_its_env_file_only(run_stack: RunStack) -> None:
    run = run_stack(
        "prod", secrets={"alertWebhookUrl": "https://hooks.slack.com/services/T/B/secretvalue"}
    )
    services = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)["services"]
    assert services["alertmanager"]["x-secret-env"] == ["SMTP_PASSWORD", "WEBHOOK_URL"]
    rendered = run.artifacts["compose/monitoring/alertmanager.yml"].text
    assert f"api_url_file: {paths.WEBHOOK_URL_FILE}" in rendered
    env = run.artifacts["compose/env/alertmanager.env"]
    assert env.secret and env.mode == 0o600
    for path, artifact in run.artifacts.items():
        if not artifact.secret:
            assert "secretvalue" not in artifact.text, path


def test_grafanas_admin_password_is_a_generated_secret_output(run_stack: RunStack) -> None:
    run = run_stack("prod")
    assert "grafanaAdminPassword" in run.secret_outputs
    (password,) = [
        r
        for r in run.of_type("random:index/randomPassword:RandomPassword")
        if "grafana-admin" in r.name
    ]
    assert password.inputs["length"] >= 32
    services = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)["services"]
    assert services["grafana"]["x-secret-env"] == ["GF_SECURITY_ADMIN_PASSWORD"]


def test_config_keys_reach_the_rules_and_the_cooldown(run_stack: RunStack) -> None:
    run = run_stack(
        "prod",
        set={
            "alertDiskPercent": 80,
            "alertCooldownMinutes": 15,
            "alertEmail": "oncall@example.org",
        },
    )
    rules = yaml.safe_load(run.artifacts["compose/monitoring/rules.yml"].text)
    disk = [r for r in rules["groups"][0]["rules"] if r["alert"] == "DiskAlmostFull"]
    assert disk[0]["expr"].endswith("> 80")
    alertmanager = yaml.safe_load(run.artifacts["compose/monitoring/alertmanager.yml"].text)
    assert alertmanager["route"]["repeat_interval"] == "15m"
    assert alertmanager["receivers"][0]["email_configs"][0]["to"] == "oncall@example.org"


def test_the_synthesised_files_pass_promtool_and_amtool(
    run_stack: RunStack, tmp_path: Path
) -> None:
    run = run_stack("prod")
    for name in ("prometheus.yml", "rules.yml", "alertmanager.yml"):
        (tmp_path / name).write_text(run.artifacts[f"compose/monitoring/{name}"].text)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        config.read_text().replace(paths.PROMETHEUS_RULES, str(tmp_path / "rules.yml"))
    )
    for argv in (
        ["promtool", "check", "config", str(config)],
        ["amtool", "check-config", str(tmp_path / "alertmanager.yml")],
    ):
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_local_monitoring_stack_passes_caddy_and_compose(
    run_stack: RunStack, tmp_path: Path
) -> None:
    run = run_stack("local", set={"localMonitoring": True})
    for rel, artifact in run.artifacts.items():
        if rel.startswith("compose/"):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(artifact.text)
    tmp_path = tmp_path / "compose"
    for argv in (
        [CADDY, "validate", "--adapter", "caddyfile", "--config", str(tmp_path / "Caddyfile")],
        ["docker", "compose", "-f", str(tmp_path / "compose.yaml"), "config", "-q"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
