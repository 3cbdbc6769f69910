"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi
import pulumi_command as command

from components.backup import Backup, backup_args, backup_outputs
from components.host import Host
from mailstack.config import load_config

config = load_config()

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)
pulumi.export("appUrl", f"https://{config.domain.app_host}")

backup = None
if config.backup.enabled:  # the config rules keep backups off the local stack
    # PLACEHOLDER until the server component lands: swap for the server's Host
    # (its SSH connection, data dir and cloud-init wait) at merge.
    placeholder_server_host = Host(
        name="server",
        connection=command.remote.ConnectionArgs(host="192.0.2.10", user=config.admin.user),
        data_dir="/srv/mailstack",
    )
    backup = Backup("backup", backup_args(config, placeholder_server_host))
pulumi.export("backup", backup_outputs(config, backup))
