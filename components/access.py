"""Render who may reach a host: authorized keys, UFW rules, fail2ban's ignore list.

One set of renderers serves both moments that set a host's access: the first
boot (`components.cloudinit` writes the UFW step and the fail2ban jail from
`bootstrap_access`) and the access step that `components.server` runs over SSH
after the boot and whenever `sshPublicKeys`, `adminCidrs` or
`firewallExtraTcpPorts` change (`render_access_script`). The first boot
therefore carries none of those settings, so changing them never changes the
user data, and a server replaced later boots the same way and is then brought
to the current settings. Pure: no Pulumi inside; the inputs are public values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import encode
from components.firewall import (
    SSH_PORT,
    TAILNET,
    WORLD,
    FirewallRule,
    inbound_rules,
    too_broad_for_ssh,
)
from components.templates import environment

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "access"
JAIL_PATH = "/etc/fail2ban/jail.d/50-mailstack-sshd.local"
HEREDOC_END = "MAILSTACK_ACCESS"


@dataclass(frozen=True)
class UfwRule:
    """One `ufw allow` rule: its specification and the key it mirrors."""

    spec: str
    """The rule as `ufw allow` takes it, e.g. `proto tcp to any port 80`."""
    key: str
    """The firewall rule's key (`in-tcp-80`), written into the rule's comment."""


@dataclass(frozen=True)
class AccessParams:
    """Everything that says who may reach the host; public values only."""

    admin_user: str
    ssh_public_keys: Sequence[str]
    """The admin user's whole authorized_keys (the humans' keys and the deploy key)."""
    rules: Mapping[str, FirewallRule]
    """Inbound firewall rules, mirrored into UFW."""
    admin_cidrs: Sequence[str]
    """Networks fail2ban never bans."""
    tailscale: bool = False
    """Allow SSH on the tailnet interface too."""


def bootstrap_access(admin_user: str, deploy_public_key: str, tailscale: bool) -> AccessParams:
    """The first boot's access: the deploy key only, SSH open to UFW.

    The cloud firewall, attached when the server is created, already limits
    SSH to `adminCidrs`; the host's own rules stay open only until the access
    step, the first thing the deploy runs after the boot, narrows them. That
    keeps the stack's access settings out of the user data, which Pulumi
    keeps as first written: a server replaced after an admin moved office
    would otherwise boot with the old networks only and shut the deploy out.
    """
    return AccessParams(
        admin_user=admin_user,
        ssh_public_keys=(deploy_public_key.strip(),),
        rules=inbound_rules(WORLD),
        admin_cidrs=(),
        tailscale=tailscale,
    )


def ufw_rules(params: AccessParams) -> list[UfwRule]:
    """The UFW rules that mirror `params.rules` (ICMP is UFW's default)."""
    rules: list[UfwRule] = []
    for rule in params.rules.values():
        if rule.protocol == "icmp":
            continue
        if rule.is_world_open:
            rules.append(UfwRule(f"proto {rule.protocol} to any port {rule.port}", rule.key))
            continue
        rules += [
            UfwRule(
                f"proto {rule.protocol} from {encode.shell(source)} to any port {rule.port}",
                rule.key,
            )
            for source in rule.sources
        ]
    if params.tailscale:
        rules.append(
            UfwRule(f"in on tailscale0 proto tcp to any port {SSH_PORT}", "in-tcp-22-tailscale")
        )
    return rules


def ufw_tag(rules: Sequence[UfwRule]) -> str:
    """`mailstack-<hash>`: names one rule set, so the rules of others can be found."""
    text = "\n".join(f"{rule.key} {rule.spec}" for rule in rules)
    return f"mailstack-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def ssh_sources(params: AccessParams) -> list[str]:
    """The networks UFW admits to SSH under `params`."""
    sources = [s for r in params.rules.values() if r.port == SSH_PORT for s in r.sources]
    return [*sources, TAILNET] if params.tailscale else sources


def _ufw_context(params: AccessParams) -> dict[str, object]:
    rules = ufw_rules(params)
    return {"ufw_rules": rules, "ufw_tag": ufw_tag(rules)}


def render_fail2ban_jail(params: AccessParams) -> str:
    """fail2ban's sshd jail, which never bans `params.admin_cidrs`.

    Except blocks too broad for SSH (`allowWorldSsh` stacks): ignoring those
    would switch fail2ban off for the whole internet, just where it is needed.
    """
    ignored = [cidr for cidr in params.admin_cidrs if not too_broad_for_ssh(cidr)]
    return environment(ASSETS).get_template("fail2ban-sshd.local.j2").render(admin_cidrs=ignored)


def render_ufw_step(params: AccessParams) -> str:
    """The first boot's UFW step (a root script)."""
    return environment(ASSETS).get_template("ufw.sh.j2").render(_ufw_context(params))


def render_access_script(params: AccessParams) -> str:
    """The root script that brings a running host's access to `params`."""
    if not params.ssh_public_keys:
        raise ValueError("the access step needs at least one SSH public key for the admin user")
    if any(encode.line_breaking(key) for key in params.ssh_public_keys):
        # authorized_keys reads a line per key: a line break would add a key.
        raise ValueError("an SSH public key holds a line break")
    if not ssh_sources(params):
        raise ValueError("the access step needs a network SSH is allowed from")
    jail = render_fail2ban_jail(params)
    if "MAILSTACK_EOF" in jail.splitlines():
        raise ValueError("the fail2ban jail cannot be written by a heredoc")
    return (
        environment(ASSETS)
        .get_template("access.sh.j2")
        .render(
            admin_user=params.admin_user,
            ssh_public_keys=list(params.ssh_public_keys),
            ssh_sources=ssh_sources(params),
            jail_path=JAIL_PATH,
            jail=jail,
            **_ufw_context(params),
        )
    )


def access_step_command(script: str) -> str:
    """The step's command: run `script` as root, telling it where SSH comes from.

    The admin user's shell runs the command; sudo would drop `SSH_CLIENT`, so
    the client address is handed over as an argument.
    """
    body = encode.heredoc_body(script, HEREDOC_END)
    return (
        "# mailstack: re-apply the host's access settings (the script below, as root).\n"
        "set -eu\n"
        'script="$(mktemp)"\n'
        "trap 'rm -f \"$script\"' EXIT\n"
        f"cat >\"$script\" <<'{HEREDOC_END}'\n"
        f"{body}{HEREDOC_END}\n"
        'client="${SSH_CLIENT:-}"\n'
        'sudo -n bash "$script" "${client%% *}"\n'
    )
