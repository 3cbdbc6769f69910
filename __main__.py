"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi

from components.backup import Backup, backup_args, backup_outputs
from components.host import Host
from components.services.deploy import ComposeStack, services_args
from mailstack.config import StackConfig, load_config


def build_mail_dns(
    config: StackConfig,
    server_ipv4: pulumi.Input[str],
    server_ipv6: pulumi.Input[str] | None,
) -> None:
    # Imported here: the local stack must never load pulumi_cloudflare.
    from components.dns import MailDomain, mail_domain_args

    mail_domain = MailDomain("mail-domain", mail_domain_args(config, server_ipv4, server_ipv6))
    pulumi.export("dnsRecords", mail_domain.records)
    pulumi.export("manualSteps", mail_domain.manual_steps)
    if mail_domain.dkim_signing is not None:
        # Secret: `make ses-dkim` reads it to hand the key to SES (BYODKIM).
        pulumi.export("dkimSigning", mail_domain.dkim_signing)


config = load_config()

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)

backup = None
if config.is_local:
    host = Host("local", connection=None, data_dir="build/local")
    pulumi.export("mailSinkUrl", f"http://localhost:{config.services.local_mail_ui_port}")
else:
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServer, server_args

    server = HardenedServer("server", server_args(config))
    host = server.host
    pulumi.export("serverIpv4", server.ipv4)
    pulumi.export("serverIpv6", server.ipv6)
    pulumi.export("serverId", server.server_id)
    pulumi.export("sshCommand", server.ssh_command)
    pulumi.export("dataDir", server.data_dir)
    if config.uses_dns:
        build_mail_dns(config, server_ipv4=server.ipv4, server_ipv6=server.ipv6)

services = ComposeStack("services", services_args(config, host))
if config.backup.enabled and not config.is_local:
    backup = Backup("backup", backup_args(config, host, services.project))
pulumi.export("appUrl", services.app_url)
if services.admin_password is not None:
    # Secret: `pulumi stack output --show-secrets appAdminPassword` (listmonk's `admin`).
    pulumi.export("appAdminPassword", services.admin_password)
if services.grafana_password is not None:
    # Secret: `pulumi stack output --show-secrets grafanaAdminPassword` (user `admin`).
    pulumi.export("grafanaAdminPassword", services.grafana_password)
pulumi.export("backup", backup_outputs(config, backup))
if services.backup_health_url is not None:
    # 503 while the host marks the last backup stale or failed: for uptime monitors.
    pulumi.export("backupHealthUrl", services.backup_health_url)
if services.metrics_url is not None:
    # Prometheus node_exporter (with the backup gauges), for `adminCidrs` only.
    pulumi.export("metricsUrl", services.metrics_url)
# The URL the throwaway smoke test and monitors probe.
pulumi.export("healthUrl", pulumi.Output.concat(services.app_url, config.app.health_path))
