"""Advice: a valid config that probably does not mean what it says (warnings, not errors)."""

from __future__ import annotations

from common.enums import AppPreset
from mailstack.config.model import Problem, StackConfig
from mailstack.config.rules import ConfigRule

# Presets that talk to Redis or object storage when the config turns it on
# (mailwizz and web-api run Redis, web-api storage, whatever the config says).
USES_REDIS = {AppPreset.MAILWIZZ, AppPreset.WEB_API, AppPreset.TRANSACTIONAL_API, AppPreset.CUSTOM}
USES_STORAGE = {AppPreset.WEB_API, AppPreset.TRANSACTIONAL_API, AppPreset.CUSTOM}
# Presets whose own admin UI the proxy limits to `adminCidrs`.
PRESET_ADMIN_PATHS = {AppPreset.LISTMONK, AppPreset.MAILWIZZ}


def _unused_services(c: StackConfig) -> list[Problem]:
    """Redis or storage that the preset never connects to: memory for nothing."""
    preset = c.app.preset.value
    return [
        Problem(name, f"the {preset} preset never uses it; it would run for nothing")
        for name, on, users in (
            ("redis", c.services.redis, USES_REDIS),
            ("storage", c.services.storage, USES_STORAGE),
        )
        if on and c.app.preset not in users
    ]


def _admin_paths_behind_cloudflare(c: StackConfig) -> list[Problem]:
    """Behind Cloudflare's proxy the proxy sees Cloudflare's edge as every client.

    The admin check matches the connection's address (`remote_ip`), which is
    then a Cloudflare address for everyone: admin paths answer 403 to all (it
    fails closed). Only the tailnet, which bypasses Cloudflare, still reaches them.
    """
    has_admin_paths = (
        c.app.preset in PRESET_ADMIN_PATHS or bool(c.app.admin_paths) or c.services.monitoring
    )
    if c.is_local or not c.dns.proxy_web or not has_admin_paths:
        return []
    return [
        Problem(
            "proxyWeb",
            "the app host is proxied through Cloudflare, so the proxy sees Cloudflare's "
            "addresses, never the client's: admin paths (the app's admin UI, appAdminPaths, "
            "/metrics) answer 403 to everyone outside the tailnet",
        )
    ]


ADVICE: list[ConfigRule] = [_unused_services, _admin_paths_behind_cloudflare]


def advice(c: StackConfig) -> list[Problem]:
    """What a valid config probably did not mean; `load_config` logs each as a warning."""
    return [p for rule in ADVICE for p in rule(c)]
