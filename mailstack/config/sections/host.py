"""The stack, its domain names, the server and who administers it."""

from __future__ import annotations

from common.enums import (
    Environment,
    ServerImage,
    Target,
)
from mailstack.config.sections.base import Section, key
from mailstack.config.types import (
    AdminUser,
    Cidr,
    DnsLabel,
    Domain,
    HetznerLabel,
    IsoDate,
    NodePool,
    Port,
    PriceOverride,
    SshPublicKey,
)


class StackSection(Section):
    environment: Environment = key(
        "environment",
        Environment.DEV,
        "Environment of this stack: local, dev or prod. prod turns on protection "
        "against `pulumi destroy` and refuses world-open SSH.",
    )
    target: Target = key(
        "target",
        Target.HETZNER,
        "Where services run: `local` (the local Docker engine) or `hetzner` (a cloud server).",
    )
    expires_at: IsoDate = key(
        "expiresAt",
        "",
        "Throwaway stacks only: UTC date (YYYY-MM-DD) after which the reaper may delete "
        "the server. Empty for long-lived stacks.",
        example="2026-12-31",
    )


class DomainSection(Section):
    domain: Domain = key(
        "domain", description="Mail domain, e.g. `example.com`. Required.", example="example.com"
    )
    app_subdomain: DnsLabel = key(
        "appSubdomain", "app", "Label of the app's web host: `<appSubdomain>.<domain>`."
    )
    mail_subdomain: DnsLabel = key(
        "mailSubdomain",
        "mail",
        "Label of the sending host: `<mailSubdomain>.<domain>`; its A/AAAA records and "
        "the server's reverse DNS use this name.",
    )
    www_redirect: bool = key("wwwRedirect", False, "Redirect `www.<domain>` to the app host.")

    @property
    def app_host(self) -> str:
        return f"{self.app_subdomain}.{self.domain}"

    @property
    def mail_host(self) -> str:
        return f"{self.mail_subdomain}.{self.domain}"


class ServerSection(Section):
    type: str = key(
        "serverType",
        "cx23",
        "Hetzner server type (Hetzner retires types: check `hcloud server-type list`).",
        pattern=r"^[a-z]{2,4}\d{1,3}$",
        example="cx23",
    )
    image: ServerImage = key(
        "serverImage",
        ServerImage.UBUNTU_2404,
        "OS image: ubuntu-24.04, debian-12 or debian-13. Changing it never replaces a "
        "running server.",
    )
    location: str = key(
        "serverLocation",
        "nbg1",
        "Hetzner location, e.g. nbg1, fsn1, hel1, ash, hil, sin.",
        pattern=r"^[a-z]{3}\d?$",
        example="nbg1",
    )
    backups: bool = key("serverBackups", False, "Turn on Hetzner's own daily server backups.")
    swap_mib: int = key(
        "serverSwapMib", 2048, "Swap file size in MiB (0 turns swap off).", ge=0, le=65536
    )
    volume_size_gb: int = key(
        "volumeSizeGb", 20, "Size of the data volume in GB (Hetzner minimum 10).", ge=10, le=10240
    )
    labels: list[HetznerLabel] = key(
        "serverLabels", [], "Extra Hetzner labels for the server, as `key=value` strings."
    )
    reboot_time: str = key(
        "serverRebootTime",
        "04:00",
        "Local time (HH:MM, UTC) at which unattended security upgrades may reboot the server.",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        example="04:00",
    )
    node_pools: list[NodePool] = key(
        "nodePools",
        [],
        "Scale out over several servers in Docker Swarm: pools as "
        "`name:count:serverType:role+role`, roles manager, proxy, app, db, monitoring, e.g. "
        "`[edge:1:cx23:proxy+app, db:1:cx33:manager+db+monitoring]` (with backups on, the db "
        "node is the manager and holds every service's data). Empty: one server "
        "(`serverType`), as before. See docs/scale-out.md.",
        example="edge:1:cx23:proxy+app",
    )
    price_overrides: list[PriceOverride] = key(
        "priceOverrides",
        [],
        "Replace entries of the dated price table behind `monthlyCostEur` (EUR/month "
        "excluding VAT), e.g. `[cx23=4.49, primary-ipv4=0.61]`. See docs/cost.md.",
        example="cx23=4.49",
    )


class AdminSection(Section):
    user: AdminUser = key(
        "adminUser",
        "mailadmin",
        "Name of the non-root sudo user that SSH allows. Created at first boot only: "
        "changing it on an existing server shuts the deploy out (it logs in as this user); "
        "a new server is needed (see README).",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        example="mailadmin",
    )
    ssh_public_keys: list[SshPublicKey] = key(
        "sshPublicKeys",
        [],
        "OpenSSH public keys allowed to log in as the admin user: the whole list, so a key "
        "removed here is revoked on the server at the next `pulumi up`.",
    )
    register_ssh_keys: bool = key(
        "registerSshKeys",
        True,
        "Also register `sshPublicKeys` as Hetzner SSH keys. Hetzner takes a key once per "
        "project, so throwaway stacks beside dev set false. The admin keys reach the admin "
        "user through the access step either way, and the stack's own deploy key is always "
        "registered, so Hetzner never mails out a root password.",
    )
    cidrs: list[Cidr] = key(
        "adminCidrs",
        [],
        "CIDR blocks allowed to reach SSH and the app's admin paths. Never the whole "
        "internet in prod. Admin paths see IPv4 clients only: the proxy's network is "
        "IPv4-only, so an IPv6 client arrives from the Docker gateway and gets 403.",
    )
    allow_world_ssh: bool = key(
        "allowWorldSsh",
        False,
        "Allow `adminCidrs` that open SSH to the whole internet or a large part of it "
        "(e.g. `0.0.0.0/0`) in this stack. Refused in prod. Keys-only SSH and fail2ban "
        "still apply, but prefer your office/VPN blocks.",
    )
    tailscale: bool = key(
        "tailscale",
        False,
        "Install Tailscale, join the tailnet over SSH after boot and allow SSH on the "
        "tailnet; from the internet SSH stays limited to `adminCidrs`. Needs `tailscaleAuthKey`.",
    )
    extra_tcp_ports: list[Port] = key(
        "firewallExtraTcpPorts",
        [],
        "Extra TCP ports opened to the internet besides 80 and 443. Keep empty unless needed.",
    )
