"""mailstack's invariants as Pulumi stack-validation policies.

Each rule is a plain function over `pulumi_policy.PolicyResource` objects that
returns violation messages; `policy_pack_policies()` wraps them for the
Pulumi CLI, and the tests call them directly on mock runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from components.firewall import too_broad_for_ssh

FIREWALL = "hcloud:index/firewall:Firewall"
SERVER = "hcloud:index/server:Server"
VOLUME = "hcloud:index/volume:Volume"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
RDNS = "hcloud:index/rdns:Rdns"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
PRIVATE_KEY_MARKERS = ("PRIVATE KEY-----", "PRIVATE KEY BLOCK")

Check = Callable[[Sequence[PolicyResource]], list[str]]


@dataclass(frozen=True)
class PolicyRule:
    name: str
    description: str
    check: Check
    applies_to: tuple[str, ...]
    """Resource types the rule inspects (tests assert the stacks have some)."""


def stack_of(resource: PolicyResource) -> str:
    """`urn:pulumi:<stack>::<project>::...` -> `<stack>`."""
    return resource.urn.split("::", 1)[0].rsplit(":", 1)[-1]


def is_prod(resources: Sequence[PolicyResource]) -> bool:
    # The prod stack is named `prod` by convention (Pulumi.prod.yaml).
    return any(stack_of(r) == "prod" for r in resources)


def _of(resources: Sequence[PolicyResource], type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_]


def _port_covers(port: Any, wanted: int) -> bool:
    text = str(port or "")
    if text in ("", "any"):
        return True
    low, _, high = text.partition("-")
    return int(low) <= wanted <= int(high or low)


def no_world_ssh_in_prod(resources: Sequence[PolicyResource]) -> list[str]:
    if not is_prod(resources):
        return []
    out = []
    for fw in _of(resources, FIREWALL):
        for rule in fw.props.get("rules") or []:
            if rule.get("direction") != "in" or rule.get("protocol") != "tcp":
                continue
            broad = [ip for ip in rule.get("sourceIps") or [] if too_broad_for_ssh(ip)]
            if _port_covers(rule.get("port"), 22) and broad:
                out.append(f"{fw.name}: SSH (22) is open to {', '.join(broad)} in prod")
    return out


def mail_names_unproxied(resources: Sequence[PolicyResource]) -> list[str]:
    records = _of(resources, DNS_RECORD)
    mail_names = {str(r.props.get("dnsPtr", "")).rstrip(".") for r in _of(resources, RDNS)}
    mail_names |= {
        str(r.props.get("content", "")).rstrip(".") for r in records if r.props.get("type") == "MX"
    }
    out = []
    for rec in records:
        if not rec.props.get("proxied"):
            continue
        name = str(rec.props.get("name", "")).rstrip(".")
        if rec.props.get("type") not in ("A", "AAAA", "CNAME"):
            out.append(f"{rec.name}: a {rec.props.get('type')} record cannot be proxied")
        if name in mail_names:
            out.append(f"{rec.name}: mail name {name} must not be proxied")
        if rec.props.get("ttl") != 1:
            out.append(f"{rec.name}: proxied records must use automatic TTL (1)")
    return out


def prod_data_protected(resources: Sequence[PolicyResource]) -> list[str]:
    if not is_prod(resources):
        return []
    out = []
    for res in _of(resources, VOLUME) + _of(resources, SERVER) + _of(resources, PRIMARY_IP):
        if not res.opts.protect:
            out.append(f"{res.name}: prod {res.resource_type} must be protected")
        if res.resource_type != PRIMARY_IP and not res.props.get("deleteProtection"):
            out.append(f"{res.name}: prod {res.resource_type} needs Hetzner delete protection")
    return out


def ips_outlive_servers(resources: Sequence[PolicyResource]) -> list[str]:
    return [
        f"{ip.name}: primary IPs must not be auto-deleted (they carry mail reputation)"
        for ip in _of(resources, PRIMARY_IP)
        if ip.props.get("autoDelete") is not False
    ]


def server_never_replaced_by_boot_config(resources: Sequence[PolicyResource]) -> list[str]:
    needed = {"userData", "sshKeys", "image"}
    return [
        f"{s.name}: must ignore changes to {sorted(needed - set(s.opts.ignore_changes))}"
        for s in _of(resources, SERVER)
        if not needed <= set(s.opts.ignore_changes)
    ]


def _strings(value: Any) -> list[str]:
    """Every known string in `value`. The CLI hands a pack its properties as
    read-only Mappings and Sequences (pulumi_policy's proxies, not dicts), which
    raise on a value unknown during preview: an unknown value is no leak yet."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        keys: Iterable[Any] = list(value)
    elif isinstance(value, Sequence):
        keys = range(len(value))
    else:
        return []
    out = []
    for key in keys:
        try:
            item = value[key]
        except UnknownValueError:
            continue
        out.extend(_strings(item))
    return out


def no_plaintext_private_key(resources: Sequence[PolicyResource]) -> list[str]:
    # With real state, pulumi_policy hands AnalyzeStack every secret decoded and
    # unmarked; what tells a pack a property is secret is the resource's
    # additionalSecretOutputs (pulumi_tls names its private keys there,
    # pulumi_command its `connection`). Any other visible key is a leaked key.
    return [
        f"{r.name}: {key} holds a private key in plain text"
        for r in resources
        for key in r.props
        if key not in set(r.opts.additional_secret_outputs or ())
        and any(m in s for s in _strings(_known(r.props, key)) for m in PRIVATE_KEY_MARKERS)
    ]


def _known(props: Mapping[str, Any], key: str) -> Any:
    try:
        return props[key]
    except UnknownValueError:
        return None


RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        "no-world-ssh-in-prod",
        "SSH is never open to the whole internet, or a large part of it, in prod.",
        no_world_ssh_in_prod,
        (FIREWALL,),
    ),
    PolicyRule(
        "mail-names-unproxied",
        "MX targets and the reverse-DNS host are never proxied; proxied records use automatic TTL.",
        mail_names_unproxied,
        (DNS_RECORD, RDNS),
    ),
    PolicyRule(
        "prod-data-protected",
        "Prod server, volume and IPs are protected from destroy.",
        prod_data_protected,
        (VOLUME, SERVER, PRIMARY_IP),
    ),
    PolicyRule(
        "ips-outlive-servers",
        "Primary IPs are never auto-deleted.",
        ips_outlive_servers,
        (PRIMARY_IP,),
    ),
    PolicyRule(
        "server-never-replaced-by-boot-config",
        "The server ignores user data, SSH key and image changes, which would replace it.",
        server_never_replaced_by_boot_config,
        (SERVER,),
    ),
    PolicyRule(
        "no-plaintext-private-key",
        "No property carries a private key unless the engine keeps it secret.",
        no_plaintext_private_key,
        (),
    ),
)


def violations(resources: Sequence[PolicyResource]) -> dict[str, list[str]]:
    return {rule.name: rule.check(resources) for rule in RULES}


def policy_pack_policies() -> list[StackValidationPolicy]:
    def wrap(rule: PolicyRule) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: Callable[[str, str | None], None]) -> None:
            for message in rule.check(args.resources):
                report(message, None)

        return StackValidationPolicy(
            name=rule.name, description=rule.description, validate=validate
        )

    return [wrap(rule) for rule in RULES]
