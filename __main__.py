"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi

from mailstack.config import StackConfig, load_config

# Documentation addresses (RFC 5737/3849) standing in for the server component's
# primary IPs until it is wired in; replace with its IPv4/IPv6 Outputs.
PENDING_SERVER_IPV4 = "192.0.2.10"
PENDING_SERVER_IPV6 = "2001:db8::10"


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
if config.uses_dns:
    build_mail_dns(config, server_ipv4=PENDING_SERVER_IPV4, server_ipv6=PENDING_SERVER_IPV6)
# The URL the throwaway smoke test and monitors probe.
pulumi.export("healthUrl", f"https://{config.domain.app_host}{config.app.health_path}")
