"""Render blackbox_exporter's modules: HTTPS health, SMTP + STARTTLS, DNS."""

from __future__ import annotations

import yaml

from components.monitoring.params import MonitoringParams
from components.monitoring.prometheus import MODULES


def render_blackbox(p: MonitoringParams) -> str:
    https = p.app_health_url.startswith("https://")
    modules: dict[str, object] = {
        MODULES["http"]: {
            "prober": "http",
            "timeout": "10s",
            "http": {
                "preferred_ip_protocol": "ip4",
                "valid_status_codes": [200],
                "fail_if_not_ssl": https,
            },
        },
        MODULES["relay"]: {
            "prober": "tcp",
            "timeout": "10s",
            "tcp": {
                "preferred_ip_protocol": "ip4",
                "query_response": [
                    {"expect": "^220"},
                    {"send": "EHLO mailstack-probe\r"},
                    {"expect": "^250[- ]STARTTLS"},
                    {"send": "STARTTLS\r"},
                    {"expect": "^220"},
                    {"starttls": True},
                    {"send": "EHLO mailstack-probe\r"},
                    {"expect": "^250 "},
                    {"send": "QUIT\r"},
                ],
            },
        },
    }
    if p.mail_host:
        modules[MODULES["dns"]] = {
            "prober": "dns",
            "timeout": "5s",
            "dns": {
                "preferred_ip_protocol": "ip4",
                "transport_protocol": "udp",
                "query_name": p.mail_host,
                "query_type": "A",
                "valid_rcodes": ["NOERROR"],
                # NOERROR with no address is no resolution.
                "validate_answer_rrs": {"fail_if_none_matches_regexp": [".*\tIN\tA\t.*"]},
            },
        }
    return yaml.safe_dump({"modules": modules}, sort_keys=False, width=100)
