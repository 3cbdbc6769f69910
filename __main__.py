"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi
import pulumi_command as command

from components.host import Host
from components.services.deploy import ComposeStack, services_args
from mailstack.config import load_config

config = load_config()

if config.is_local:
    host = Host("local", connection=None, data_dir="build/local")
else:
    # PLACEHOLDER until the server component lands: replace with the server's `host`.
    server_ready_placeholder = command.local.Command("server-ready-placeholder", create="true")
    host = Host(
        "server",
        connection=command.remote.ConnectionArgs(host="203.0.113.10", user=config.admin.user),
        data_dir="/mnt/data",
        ready=[server_ready_placeholder],
    )

services = ComposeStack("services", services_args(config, host))

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)
pulumi.export("appUrl", services.app_url)
if config.is_local:
    pulumi.export("mailSinkUrl", f"http://localhost:{config.services.local_mail_ui_port}")
