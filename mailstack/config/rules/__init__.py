"""Cross-field rules: problems no single key shows, one module per concern.

Each rule reads the whole validated config and returns its problems (an empty
list when there are none); the loader runs them all and reports every problem
in one error.
"""

from __future__ import annotations

from collections.abc import Callable

from mailstack.config.model import Problem, StackConfig
from mailstack.config.rules.access import (
    firewall_ports,
    no_world_ssh_in_prod,
    server_reachable,
    tailscale,
)
from mailstack.config.rules.app import app, app_data, app_env, app_images
from mailstack.config.rules.backup import backups
from mailstack.config.rules.cost import priced
from mailstack.config.rules.images import standins_local_only
from mailstack.config.rules.mail import dkim, dns, mail_relay, ses_as_code, spf, zone_needed
from mailstack.config.rules.names import dns_names
from mailstack.config.rules.stack import (
    stack_name_is_a_project_name,
    stack_name_matches_environment,
    target_matches_environment,
    throwaway_marks,
)
from mailstack.config.rules.storage import storage
from mailstack.config.rules.topology import node_pools

ConfigRule = Callable[[StackConfig], list[Problem]]
"""A cross-field check of the whole config (not a firewall or policy rule)."""

RULES: list[ConfigRule] = [
    target_matches_environment,
    no_world_ssh_in_prod,
    server_reachable,
    firewall_ports,
    zone_needed,
    mail_relay,
    backups,
    tailscale,
    app,
    app_env,
    app_data,
    app_images,
    dns,
    throwaway_marks,
    spf,
    dkim,
    dns_names,
    node_pools,
    priced,
    standins_local_only,
    storage,
    ses_as_code,
]

__all__ = [
    "RULES",
    "ConfigRule",
    "stack_name_is_a_project_name",
    "stack_name_matches_environment",
]
