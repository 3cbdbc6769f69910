"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi

from mailstack.config import load_config

config = load_config()

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)
pulumi.export("appUrl", f"https://{config.domain.app_host}")

if not config.is_local:
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServer, server_args

    server = HardenedServer("server", server_args(config))
    pulumi.export("serverIpv4", server.ipv4)
    pulumi.export("serverIpv6", server.ipv6)
    pulumi.export("serverId", server.server_id)
    pulumi.export("sshCommand", server.ssh_command)
    pulumi.export("dataDir", server.data_dir)
