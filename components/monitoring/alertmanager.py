"""Render alertmanager.yml: email through the stack's relay, an optional webhook,
the cooldown, grouping and inhibition. Secrets are files, never in the text."""

from __future__ import annotations

import yaml

from components.monitoring import paths
from components.monitoring.params import MonitoringParams

RECEIVER = "operators"
WATCHDOG_RECEIVER = "watchdog"


def render_alertmanager(p: MonitoringParams) -> str:
    smtp: dict[str, object] = {
        "smtp_smarthost": p.relay.smarthost,
        "smtp_from": p.from_address,
        "smtp_require_tls": p.relay.require_tls,
    }
    if p.relay.username:
        smtp["smtp_auth_username"] = p.relay.username
    if p.relay.password:
        smtp["smtp_auth_password_file"] = paths.SMTP_PASSWORD_FILE
    operators: dict[str, object] = {
        "name": RECEIVER,
        "email_configs": [{"to": p.alert_email, "send_resolved": True}],
    }
    if p.webhook:
        # Slack's incoming-webhook format: Slack, Mattermost, and Discord (its
        # webhook URL + `/slack`) take it. Alertmanager reads the URL from a file
        # (`api_url_file`; the generic webhook's `url_file` needs 0.26+).
        operators["slack_configs"] = [
            {"api_url_file": paths.WEBHOOK_URL_FILE, "send_resolved": True}
        ]
    config = {
        "global": {"resolve_timeout": "5m", **smtp},
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", "host"],
            "group_wait": p.group_wait,
            "group_interval": p.group_interval,
            # The cooldown: a still-firing alert is re-sent this often, no more.
            "repeat_interval": p.cooldown,
            "routes": [
                # Always firing; for an external dead-man's switch, never for a mailbox.
                {"receiver": WATCHDOG_RECEIVER, "matchers": ['alertname="Watchdog"']},
            ],
        },
        "inhibit_rules": [
            # Everything behind the proxy fails with it: tell about the proxy only.
            {
                "source_matchers": ['alertname="ProxyDown"'],
                "target_matchers": ['component="app"'],
                "equal": ["host"],
            },
            # A full disk says more than a disk that will fill.
            {
                "source_matchers": ['alertname="DiskAlmostFull"'],
                "target_matchers": ['alertname="DiskWillFill"'],
                "equal": ["host", "mountpoint"],
            },
            # The relay being unreachable explains failing sends.
            {
                "source_matchers": ['alertname="RelayUnreachable"'],
                "target_matchers": ['alertname="SendFailureRateHigh"'],
                "equal": ["host"],
            },
        ],
        "receivers": [operators, {"name": WATCHDOG_RECEIVER}],
    }
    return yaml.safe_dump(config, sort_keys=False, width=100)
