"""One promtool unit test per alert: series on which it fires, and series on
which it stays silent (the Watchdog has no silent case: it always fires).

Each case is evaluated by `promtool test rules` against the rendered rules
with the default thresholds (tests/artifacts/test_monitoring_artifacts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEALTH = 'job="app-health", instance="https://app.example.com/health"'
RELAY = 'job="relay-smtp", instance="email-smtp.example.com:587"'
DNS = 'job="mail-dns", instance="1.1.1.1:53"'
NODE = 'job="node", instance="node-exporter:9100"'
ROOTFS = f'{NODE}, device="/dev/sda1", fstype="ext4", mountpoint="/"'


def labels(text: str) -> dict[str, str]:
    """`a="x", b="y"` -> {"a": "x", "b": "y"}."""
    pairs = (part.split("=", 1) for part in text.split(", "))
    return {k: v.strip('"') for k, v in pairs}


@dataclass(frozen=True)
class Case:
    alert: str
    bad: dict[str, str]
    """Series -> promtool values on which the alert fires."""
    good: dict[str, str]
    """Series -> values on which it stays silent."""
    eval_time: str
    labels: dict[str, str] = field(default_factory=dict)
    """The firing alert's labels besides its rule's severity and component."""
    interval: str = "1m"


CASES = (
    Case("Watchdog", {}, {}, "1m"),
    Case(
        "AppDown",
        {f"probe_success{{{HEALTH}}}": "0x15"},
        {f"probe_success{{{HEALTH}}}": "1x15"},
        "10m",
        labels(HEALTH),
    ),
    Case(
        "ProxyDown",
        {'up{job="caddy", instance="proxy:2020"}': "0x15"},
        {'up{job="caddy", instance="proxy:2020"}': "1x15"},
        "10m",
        labels('job="caddy", instance="proxy:2020"'),
    ),
    Case(
        # At 2 h, time() is 7200: the certificate has 10 days left, or 30.
        "CertificateExpiringSoon",
        {f"probe_ssl_earliest_cert_expiry{{{HEALTH}}}": f"{7200 + 10 * 86400}x130"},
        {f"probe_ssl_earliest_cert_expiry{{{HEALTH}}}": f"{7200 + 30 * 86400}x130"},
        "2h",
        labels(HEALTH),
    ),
    Case(
        "DiskAlmostFull",
        {
            f"node_filesystem_avail_bytes{{{ROOTFS}}}": "5x30",
            f"node_filesystem_size_bytes{{{ROOTFS}}}": "100x30",
        },
        {
            f"node_filesystem_avail_bytes{{{ROOTFS}}}": "50x30",
            f"node_filesystem_size_bytes{{{ROOTFS}}}": "100x30",
        },
        "20m",
        labels(ROOTFS),
    ),
    Case(
        # 10 bytes less each minute: 14400 less in 24 h, more than is left.
        "DiskWillFill",
        {f"node_filesystem_avail_bytes{{{ROOTFS}}}": "10000-10x130"},
        {f"node_filesystem_avail_bytes{{{ROOTFS}}}": "10000x130"},
        "2h",
        labels(ROOTFS),
    ),
    Case(
        "MemoryHigh",
        {
            f"node_memory_MemAvailable_bytes{{{NODE}}}": "5x20",
            f"node_memory_MemTotal_bytes{{{NODE}}}": "100x20",
        },
        {
            f"node_memory_MemAvailable_bytes{{{NODE}}}": "50x20",
            f"node_memory_MemTotal_bytes{{{NODE}}}": "100x20",
        },
        "15m",
        labels(NODE),
    ),
    Case(
        # Idle 6 s of every 60: 90 % busy; or idle 54 s: 10 % busy.
        "CpuHigh",
        {f'node_cpu_seconds_total{{{NODE}, cpu="0", mode="idle"}}': "0+6x30"},
        {f'node_cpu_seconds_total{{{NODE}, cpu="0", mode="idle"}}': "0+54x30"},
        "20m",
        labels(NODE),
    ),
    Case(
        "ContainerRestarting",
        {'container_start_time_seconds{job="containers", name="app"}': "100 200 300 400x10"},
        {'container_start_time_seconds{job="containers", name="app"}': "100 200 200x10"},
        "5m",
        labels('job="containers", name="app"'),
    ),
    Case(
        # At 27 h (97200 s) a success at 0 is 27 h old, one at 90000 is 2 h old;
        # the backups allow 26 h.
        "BackupStale",
        {
            "mailstack_backup_last_success_timestamp_seconds": "0x450",
            "mailstack_backup_max_age_seconds": "93600x450",
        },
        {
            "mailstack_backup_last_success_timestamp_seconds": "90000x450",
            "mailstack_backup_max_age_seconds": "93600x450",
        },
        "27h",
        interval="4m",
    ),
    Case(
        "BackupFailed",
        {
            'mailstack_backup_last_failure_timestamp_seconds{action="backup"}': "2000x5",
            "mailstack_backup_last_success_timestamp_seconds": "1000x5",
        },
        {
            'mailstack_backup_last_failure_timestamp_seconds{action="backup"}': "1000x5",
            "mailstack_backup_last_success_timestamp_seconds": "2000x5",
            # A failed check is not a failed backup.
            'mailstack_backup_last_failure_timestamp_seconds{action="check"}': "3000x5",
        },
        "3m",
    ),
    Case(
        "BackupCheckFailed",
        {
            'mailstack_backup_last_failure_timestamp_seconds{action="check"}': "2000x5",
            "mailstack_backup_check_last_success_timestamp_seconds": "1000x5",
        },
        {
            'mailstack_backup_last_failure_timestamp_seconds{action="check"}': "1000x5",
            "mailstack_backup_check_last_success_timestamp_seconds": "2000x5",
        },
        "3m",
    ),
    Case(
        "RelayUnreachable",
        {f"probe_success{{{RELAY}}}": "0x15"},
        {f"probe_success{{{RELAY}}}": "1x15"},
        "10m",
        labels(RELAY),
    ),
    Case(
        "MailHostUnresolvable",
        {f"probe_success{{{DNS}}}": "0x20"},
        {f"probe_success{{{DNS}}}": "1x20"},
        "15m",
        labels(DNS),
    ),
    Case(
        # 30 of every 100 sends fail, or 10 of 100 (the threshold is 20 %).
        "SendFailureRateHigh",
        {
            'mailstack_mail_send_attempts_total{job="app", instance="app:9100"}': "0+100x30",
            'mailstack_mail_send_failures_total{job="app", instance="app:9100"}': "0+30x30",
        },
        {
            'mailstack_mail_send_attempts_total{job="app", instance="app:9100"}': "0+100x30",
            'mailstack_mail_send_failures_total{job="app", instance="app:9100"}': "0+10x30",
        },
        "25m",
        {"job": "app"},
    ),
)
