"""Prometheus alert rules as data, rendered to a rules file (checked by promtool).

Every alert carries a `severity` (`critical`: someone acts now; `warning`: act
within the day; `none`: the Watchdog) and a `component` label (what the
inhibition rules match on), and its annotations say what to check and which
make target helps.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from components.monitoring.params import MonitoringParams

FILESYSTEMS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs|fuse.*"'
"""Real filesystems: not the container layers, not memory."""
JOBS = {
    "node": "node",
    "containers": "containers",
    "caddy": "caddy",
    "app": "app",
    "http": "app-health",
    "relay": "relay-smtp",
    "dns": "mail-dns",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
}
"""Scrape job names, shared by the scrape config, the rules and the dashboards."""
SEND_ATTEMPTS = "mailstack_mail_send_attempts_total"
SEND_FAILURES = "mailstack_mail_send_failures_total"
"""The counters an app's metrics endpoint exports for the send failure rate
(a send is an attempt; a failed send or queue delivery counts in both)."""


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    component: str
    """`host`, `proxy`, `app`, `mail`, `backup`, `monitoring`: what inhibition matches."""
    summary: str
    runbook: str
    """What to check first, and which make target helps."""
    for_: str = "0m"

    def render(self) -> dict[str, object]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, "component": self.component},
            "annotations": {"summary": self.summary, "runbook": self.runbook},
        }


def alerts(p: MonitoringParams) -> tuple[Alert, ...]:
    t = p.thresholds
    http, relay, dns = JOBS["http"], JOBS["relay"], JOBS["dns"]
    return (
        Alert(
            "Watchdog",
            "vector(1)",
            "none",
            "monitoring",
            "Always firing: proves the alerting pipeline works end to end.",
            "Route it to an external dead-man's switch; if that stops hearing from "
            "this host, the host, Prometheus or Alertmanager is down.",
        ),
        Alert(
            "AppDown",
            f'probe_success{{job="{http}"}} == 0',
            "critical",
            "app",
            "The app's health URL {{ $labels.instance }} fails.",
            "Check the app container (`docker compose ps`, `docker compose logs app` in the "
            "project directory) and its database; `make backup-status STACK=...` if a restore "
            "is under way; redeploy with `make up STACK=...`.",
            t.app_down_for,
        ),
        Alert(
            "ProxyDown",
            f'up{{job="{JOBS["caddy"]}"}} == 0',
            "critical",
            "proxy",
            "The proxy (Caddy) does not answer its metrics scrape.",
            "Every public URL goes through it: check `docker compose ps proxy` and "
            "`docker compose logs proxy` (certificate or config errors); `make up STACK=...` "
            "re-deploys it.",
            "2m",
        ),
        Alert(
            "CertificateExpiringSoon",
            f'probe_ssl_earliest_cert_expiry{{job="{http}"}} - time() < {t.cert_days} * 86400',
            "warning",
            "app",
            f"The certificate of {{{{ $labels.instance }}}} expires within {t.cert_days} days.",
            "Caddy renews 30 days ahead, so renewal is failing: check `docker compose logs "
            "proxy` for ACME errors, the CAA record and that ports 80/443 are open; "
            "`make preview STACK=...` shows DNS drift.",
            "1h",
        ),
        Alert(
            "DiskAlmostFull",
            f"(1 - node_filesystem_avail_bytes{{{FILESYSTEMS}}} / "
            f"node_filesystem_size_bytes{{{FILESYSTEMS}}}) * 100 > {t.disk_percent:g}",
            "critical",
            "host",
            f"{{{{ $labels.mountpoint }}}} is over {t.disk_percent:g} % full.",
            "Check `df -h` and `du -xsh /srv/mailstack/*` on the server (volumes, logs, "
            "Prometheus' data); old restic caches go with `make backup-status`'s hints; "
            "resize the volume in config and `make up STACK=...`.",
            "10m",
        ),
        Alert(
            "DiskWillFill",
            f"predict_linear(node_filesystem_avail_bytes{{{FILESYSTEMS}}}[6h], "
            f"{t.disk_full_hours} * 3600) < 0",
            "warning",
            "host",
            f"{{{{ $labels.mountpoint }}}} is predicted full within {t.disk_full_hours} h.",
            "Something is writing fast: check `du -xsh /srv/mailstack/*` and the app's "
            "logs; a runaway queue or log shows in the containers dashboard; a bigger "
            "`volumeSizeGb` and `make up STACK=...` buys room.",
            "30m",
        ),
        Alert(
            "MemoryHigh",
            "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > "
            f"{t.memory_percent:g}",
            "warning",
            "host",
            f"Memory use is over {t.memory_percent:g} %.",
            "Check which container grows in the containers dashboard (`docker stats`); "
            "the memory limits are in compose.yaml; a bigger `serverType` and "
            "`make up STACK=...` is the lasting fix.",
            "5m",
        ),
        Alert(
            "CpuHigh",
            '(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) '
            f"* 100 > {t.cpu_percent:g}",
            "warning",
            "host",
            f"CPU use is over {t.cpu_percent:g} % for {t.cpu_for}.",
            "Check `docker stats` and the containers dashboard for the busy service "
            "(a campaign being sent is expected load); a bigger `serverType` and "
            "`make up STACK=...` if it is the new normal.",
            t.cpu_for,
        ),
        Alert(
            "ContainerRestarting",
            f'changes(container_start_time_seconds{{name!=""}}[15m]) + 1 >= {t.restarts}',
            "warning",
            "host",
            f"Container {{{{ $labels.name }}}} started {t.restarts} or more times in 15 minutes.",
            "Check `docker compose logs <service>` and `docker inspect` (OOMKilled, exit "
            "code); a failed healthcheck or a too-small memory limit is the usual cause; "
            "`make up STACK=...` re-deploys after the fix.",
        ),
        Alert(
            "BackupStale",
            "time() - mailstack_backup_last_success_timestamp_seconds > "
            "mailstack_backup_max_age_seconds",
            "critical",
            "backup",
            "The last successful backup is older than the allowed age.",
            "Run `make backup-status STACK=...`; on the server `systemctl status "
            "mailstack-backup.service` and `journalctl -u mailstack-backup`.",
            "5m",
        ),
        Alert(
            "BackupFailed",
            'max(mailstack_backup_last_failure_timestamp_seconds{action!="check"}) > '
            "(max(mailstack_backup_last_success_timestamp_seconds) or vector(0))",
            "critical",
            "backup",
            "The last backup run failed.",
            "Run `make backup-status STACK=...`; on the server `journalctl -u "
            "mailstack-backup` shows restic's error (credentials, repository lock, space).",
        ),
        Alert(
            "BackupCheckFailed",
            'max(mailstack_backup_last_failure_timestamp_seconds{action="check"}) > '
            "(max(mailstack_backup_check_last_success_timestamp_seconds) or vector(0))",
            "warning",
            "backup",
            "The last repository check (`restic check`) failed.",
            "On the server `journalctl -u mailstack-backup-check`; a damaged repository "
            "needs a new full backup; `make restore DRY_RUN=1 STACK=...` verifies snapshots.",
        ),
        Alert(
            "RelayUnreachable",
            f'probe_success{{job="{relay}"}} == 0',
            "critical",
            "mail",
            "The mail relay {{ $labels.instance }} does not answer SMTP + STARTTLS.",
            "Check the relay's status page and the server's outbound port 587 "
            "(`nc -vz <relay> 587`); SES: the region in config; `make preview STACK=...`.",
            "5m",
        ),
        Alert(
            "MailHostUnresolvable",
            f'probe_success{{job="{dns}"}} == 0',
            "warning",
            "mail",
            "The mail host does not resolve.",
            "Check the DNS records (`dig <mail host>`); `make preview STACK=...` shows "
            "DNS drift against config.",
            "10m",
        ),
        Alert(
            "SendFailureRateHigh",
            f"sum without (instance) (rate({SEND_FAILURES}[10m])) / "
            f"sum without (instance) (rate({SEND_ATTEMPTS}[10m])) > {t.send_failure_ratio:g}",
            "critical",
            "mail",
            f"More than {t.send_failure_ratio:.0%} of sends or queued deliveries fail.",
            "Check the app's logs for the relay's answer (quota, auth, bounces) and the "
            "relay's dashboard; RelayUnreachable says whether it answers at all; SES "
            "refusing signatures: `make ses-dkim STACK=...`.",
            "10m",
        ),
    )


def render_rules(p: MonitoringParams) -> str:
    groups = [{"name": "mailstack", "rules": [a.render() for a in alerts(p)]}]
    return yaml.safe_dump({"groups": groups}, sort_keys=False, width=100)
