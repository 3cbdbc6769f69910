"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi

from components.backup import Backup, backup_args, backup_outputs
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


config = load_config()

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)
pulumi.export("appUrl", f"https://{config.domain.app_host}")

backup = None
if not config.is_local:
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServer, server_args

    server = HardenedServer("server", server_args(config))
    pulumi.export("serverIpv4", server.ipv4)
    pulumi.export("serverIpv6", server.ipv6)
    pulumi.export("serverId", server.server_id)
    pulumi.export("sshCommand", server.ssh_command)
    pulumi.export("dataDir", server.data_dir)
    if config.uses_dns:
        build_mail_dns(config, server_ipv4=server.ipv4, server_ipv6=server.ipv6)
    if config.backup.enabled:
        backup = Backup("backup", backup_args(config, server.host))

pulumi.export("backup", backup_outputs(config, backup))
# The URL the throwaway smoke test and monitors probe.
pulumi.export("healthUrl", f"https://{config.domain.app_host}{config.app.health_path}")
