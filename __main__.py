"""mailstack: load the stack's config, build the components, export what operators need."""

import pulumi

from mailstack.config import load_config

config = load_config()

pulumi.export("environment", config.stack.environment.value)
pulumi.export("target", config.stack.target.value)
pulumi.export("appUrl", f"https://{config.domain.app_host}")
# The URL the throwaway smoke test and monitors probe.
pulumi.export("healthUrl", f"https://{config.domain.app_host}{config.app.health_path}")
