"""The stack outputs: every name the program exports, with what it is and when.

`export` refuses a name that is not listed here, and the docs generator
writes docs/outputs.md from this list, so the table cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class OutputDoc:
    name: str
    when: str
    """Which stacks have it."""
    description: str
    secret: bool = False


OUTPUTS: tuple[OutputDoc, ...] = (
    OutputDoc("environment", "every stack", "The stack's environment: local, dev or prod."),
    OutputDoc("target", "every stack", "Where services run: local or hetzner."),
    OutputDoc(
        "monthlyCostEur",
        "every stack",
        "What the stack's Hetzner resources cost per month in EUR excluding VAT (servers, "
        "their backup option, primary IPs, the volume, a load balancer); 0 for local. From "
        "the dated price table in docs/cost.md with `priceOverrides` applied.",
    ),
    OutputDoc("appUrl", "every stack", "The app's URL."),
    OutputDoc("healthUrl", "every stack", "The URL monitors and the throwaway smoke test probe."),
    OutputDoc(
        "appAdminPassword",
        "presets that generate one (listmonk: user `admin`)",
        "The password of the app's first admin user, set by the first install. A password "
        "changed in the app's UI afterwards is not reflected here.",
        secret=True,
    ),
    OutputDoc(
        "grafanaAdminPassword",
        "stacks that run the monitoring stack",
        "The password of Grafana's `admin` user (at `/grafana`, admin networks only).",
        secret=True,
    ),
    OutputDoc(
        "serverIpv4", "servers", "The server's primary IPv4 address (survives a replacement)."
    ),
    OutputDoc("serverIpv6", "servers", "The server's IPv6 address (its primary IP's `::1`)."),
    OutputDoc("serverId", "servers", "The Hetzner server id; a new one means a new server."),
    OutputDoc("sshCommand", "servers", "How an admin logs in (from `adminCidrs` or the tailnet)."),
    OutputDoc("dataDir", "servers", "Where the data volume is mounted on the server."),
    OutputDoc("dnsRecords", "servers with DNS", "The DNS records mailstack manages."),
    OutputDoc(
        "manualSteps", "servers with DNS", "What remains by hand (SES, mailboxes, DMARC ramp)."
    ),
    OutputDoc(
        "dkimSigning",
        "servers with mailstack's own DKIM keys",
        "What the relay signs with: domain, selector, private key (`make ses-dkim`).",
        secret=True,
    ),
    OutputDoc(
        "sesConfigurationSet",
        "servers with `sesAsCode`",
        "The SES configuration set the app's mail should name (bounce and complaint events).",
    ),
    OutputDoc(
        "sesFeedbackTopicArn",
        "servers with `sesAsCode`",
        "The SNS topic SES publishes bounces and complaints to.",
    ),
    OutputDoc(
        "sesDkimTokens",
        "servers with `sesAsCode` and Easy DKIM",
        "SES's Easy DKIM tokens: set them as `sesDkimTokens`, and DNS publishes their CNAMEs.",
    ),
    OutputDoc(
        "backup",
        "every stack",
        "Whether backups are on, their schedule, retention, the status when the timers "
        "were installed, and the status and restore commands.",
    ),
    OutputDoc(
        "backupHealthUrl",
        "single-server stacks with scheduled backups (a multi-node stack's proxy runs "
        "apart from the backups)",
        "Public; answers 503 while the last backup is stale, failed or missing.",
    ),
    OutputDoc(
        "metricsUrl",
        "servers with monitoring",
        "node_exporter's metrics with the backup gauges, for `adminCidrs` and the tailnet only.",
    ),
    OutputDoc(
        "loadBalancerIpv4",
        "multi-node stacks (nodePools)",
        "The load balancer's IPv4 address: where the app's and mail host's DNS records point.",
    ),
    OutputDoc("loadBalancerIpv6", "multi-node stacks (nodePools)", "The load balancer's IPv6."),
    OutputDoc(
        "nodes",
        "multi-node stacks (nodePools)",
        "Each node's private address (Swarm's) and public IPv4 (SSH from `adminCidrs`).",
    ),
    OutputDoc(
        "mailSinkUrl", "the local stack", "The mail sink's web UI (every mail the app sends)."
    ),
)

_NAMES = {doc.name for doc in OUTPUTS}


def export(name: str, value: object) -> None:
    """`pulumi.export`, for documented outputs only."""
    if name not in _NAMES:
        raise ValueError(f"stack output {name!r} is not documented in mailstack/outputs.py")
    pulumi.export(name, value)
