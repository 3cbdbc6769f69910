"""The monitoring configs, checked by the programs that read them: promtool
(config, rules, and a unit test per alert), amtool, blackbox_exporter."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from components.monitoring import paths
from components.monitoring.alertmanager import render_alertmanager
from components.monitoring.blackbox import render_blackbox
from components.monitoring.params import MonitoringParams, SmtpRelay, Thresholds
from components.monitoring.prometheus import render_prometheus
from components.monitoring.rules import alerts, render_rules
from tests.artifacts.monitoring_rule_cases import CASES, Case

SERVER = MonitoringParams(
    host="mailstack-prod",
    alert_email="ops@example.com",
    from_address="alerts@example.com",
    relay=SmtpRelay("email-smtp.eu-central-1.amazonaws.com:587", "AKIAEXAMPLE", password=True),
    app_health_url="https://app.example.com/health",
    relay_probe="email-smtp.eu-central-1.amazonaws.com:587",
    mail_host="mail.example.com",
    webhook=True,
    node_exporter="node-exporter:9100",
    container_exporter="cadvisor:8080",
    caddy_metrics="proxy:2020",
    app_metrics=("app:9100/metrics",),
)
LOCAL = MonitoringParams(
    host="mailstack-local",
    alert_email="ops@example.com",
    from_address="alerts@example.com",
    relay=SmtpRelay("mailpit:1025", require_tls=False),
    app_health_url="http://proxy:80/health",
)
VARIANTS = {"server": SERVER, "local": LOCAL}


def check(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv[0]}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _write_prometheus(p: MonitoringParams, root: Path) -> Path:
    """prometheus.yml and the rules next to it (promtool resolves the path as written)."""
    (root / "rules.yml").write_text(render_rules(p))
    config = root / "prometheus.yml"
    config.write_text(render_prometheus(p).replace(paths.PROMETHEUS_RULES, str(root / "rules.yml")))
    return config


@pytest.mark.parametrize("variant", VARIANTS)
def test_prometheus_config_and_rules_pass_promtool(variant: str, tmp_path: Path) -> None:
    config = _write_prometheus(VARIANTS[variant], tmp_path)
    out = check("promtool", "check", "config", str(config))
    assert f"SUCCESS: {len(alerts(SERVER))} rules found" in out


@pytest.mark.parametrize("variant", VARIANTS)
def test_alertmanager_config_passes_amtool(variant: str, tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager(VARIANTS[variant]))
    check("amtool", "check-config", str(config))


@pytest.mark.parametrize("variant", VARIANTS)
def test_blackbox_config_passes_the_exporters_own_check(variant: str, tmp_path: Path) -> None:
    config = tmp_path / "blackbox.yml"
    config.write_text(render_blackbox(VARIANTS[variant]))
    check("prometheus-blackbox-exporter", "--config.check", f"--config.file={config}")


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    """The check can fail: a rules file with a bad expression is refused."""
    rules = tmp_path / "rules.yml"
    rules.write_text(render_rules(SERVER).replace("vector(1)", "vector(1", 1))
    done = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True)
    assert done.returncode != 0


def test_no_secret_is_in_the_rendered_files() -> None:
    """Secrets come from files the entrypoint writes; the configs only name them."""
    text = render_alertmanager(SERVER)
    assert f"smtp_auth_password_file: {paths.SMTP_PASSWORD_FILE}" in text
    assert f"api_url_file: {paths.WEBHOOK_URL_FILE}" in text
    assert not re.search(r"(smtp_auth_password|api_url|url):", text)


def test_cooldown_grouping_and_inhibition_are_rendered() -> None:
    config = yaml.safe_load(render_alertmanager(SERVER))
    route = config["route"]
    assert route["repeat_interval"] == "60m"
    assert route["group_by"] == ["alertname", "host"]
    assert {
        "source_matchers": ['alertname="ProxyDown"'],
        "target_matchers": ['component="app"'],
        "equal": ["host"],
    } in config["inhibit_rules"]
    assert yaml.safe_load(render_prometheus(SERVER))["global"]["external_labels"] == {
        "host": "mailstack-prod"
    }


def test_thresholds_reach_the_rules() -> None:
    p = MonitoringParams(
        **{**SERVER.__dict__, "thresholds": Thresholds(disk_percent=75, cpu_for="9m")}
    )
    rules = {r["alert"]: r for r in yaml.safe_load(render_rules(p))["groups"][0]["rules"]}
    assert rules["DiskAlmostFull"]["expr"].endswith("> 75")
    assert rules["CpuHigh"]["for"] == "9m"


def test_every_alert_has_a_severity_a_runbook_and_a_unit_test() -> None:
    names = [a.name for a in alerts(SERVER)]
    assert sorted(names) == sorted(c.alert for c in CASES)
    for alert in alerts(SERVER):
        assert alert.severity in ("critical", "warning", "none")
        assert "make " in alert.runbook or alert.name == "Watchdog"


def _expand(text: str, series_labels: dict[str, str]) -> str:
    """The annotation as Prometheus expands it (the templates use only $labels.x)."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: series_labels[m[1]], text)


def _unit_tests(cases: tuple[Case, ...], p: MonitoringParams) -> list[dict[str, object]]:
    by_name = {a.name: a for a in alerts(p)}
    tests: list[dict[str, object]] = []
    for case in cases:
        alert = by_name[case.alert]
        exp_labels = {**case.labels, "severity": alert.severity, "component": alert.component}
        annotations = {
            "summary": _expand(alert.summary, case.labels),
            "runbook": _expand(alert.runbook, case.labels),
        }
        for series, expected in (
            (case.bad, [{"exp_labels": exp_labels, "exp_annotations": annotations}]),
            (case.good, []),
        ):
            if case.alert == "Watchdog" and not expected:
                continue
            tests.append(
                {
                    "name": f"{case.alert} {'fires' if expected else 'stays silent'}",
                    "interval": case.interval,
                    "input_series": [{"series": s, "values": v} for s, v in series.items()],
                    "alert_rule_test": [
                        {
                            "eval_time": case.eval_time,
                            "alertname": case.alert,
                            "exp_alerts": expected,
                        }
                    ],
                }
            )
    return tests


def test_every_alert_fires_on_bad_series_and_stays_silent_on_good(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(render_rules(SERVER))
    tests = tmp_path / "tests.yml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yml"],
                "evaluation_interval": "1m",
                "tests": _unit_tests(CASES, SERVER),
            }
        )
    )
    out = check("promtool", "test", "rules", str(tests))
    assert "SUCCESS" in out


def test_the_unit_tests_can_fail(tmp_path: Path) -> None:
    """Swapping the good and the bad series makes promtool fail every alert's test."""
    (tmp_path / "rules.yml").write_text(render_rules(SERVER))
    for case in CASES:
        if case.alert == "Watchdog":
            continue
        swapped = Case(case.alert, case.good, case.bad, case.eval_time, case.labels, case.interval)
        tests = tmp_path / "tests.yml"
        tests.write_text(
            yaml.safe_dump(
                {
                    "rule_files": ["rules.yml"],
                    "evaluation_interval": "1m",
                    "tests": _unit_tests((swapped,), SERVER),
                }
            )
        )
        done = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True)
        assert done.returncode != 0, case.alert
