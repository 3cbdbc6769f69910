"""The Hetzner server: keys, firewall, stable IPs with reverse DNS, data volume.

`HardenedServer` builds everything a mail host needs before services arrive and
hands over a `Host` whose `ready` steps wait for the first boot to finish and
then bring the host's access to the config.
Nothing here may replace a running server by surprise: user data, SSH keys
and image are ignored after creation, the public IPs live on primary IPs that
outlive the server, and in prod the server, IPs and volume are protected.
Who may reach the host (keys, UFW, fail2ban) is set after the first boot by the
access step, over SSH, and again whenever those settings change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_hcloud as hcloud
import pulumi_tls as tls

from common import artifacts, encode
from common.enums import ServerImage
from common.layout import HostLayout
from components.access import (
    AccessParams,
    access_step_command,
    bootstrap_access,
    render_access_script,
)
from components.cloudinit import (
    CloudInitParams,
    render_user_data,
    render_wait_script,
    tailscale_install,
)
from components.firewall import FirewallRule, inbound_rules
from components.hetzner_keys import hetzner_accepts
from components.host import Host, run_step

COMPONENT_TYPE = "mailstack:compute:HardenedServer"
VOLUME_LABEL = "mailstack-data"
USER_DATA_ARTIFACT = "cloud-init/user-data.yaml"
ACCESS_ARTIFACT = "host/access.sh"
# Each of these forces a replacement in the hcloud provider; user data is for
# the first boot only, later changes go over SSH.
IGNORED_AFTER_CREATE = ["userData", "sshKeys", "image"]


@dataclass(frozen=True)
class HardenedServerArgs:
    """What the server component needs; built from the config by `server_args`."""

    hostname: str
    """Fully qualified name of the host; also the reverse DNS of both IPs."""
    server_type: str
    """Hetzner server type, e.g. cx23."""
    image: ServerImage
    location: str
    """Hetzner location, e.g. nbg1."""
    admin_user: str
    """The non-root sudo user SSH allows (created at first boot only)."""
    admin_ssh_keys: Sequence[str]
    """OpenSSH public keys of the human admins (at least one)."""
    admin_cidrs: Sequence[str]
    """Networks allowed to reach SSH (and where `pulumi up` runs)."""
    layout: HostLayout
    """Where everything lives on the server (the data volume's mount point)."""
    register_admin_keys: bool = True
    """Register the admin keys with Hetzner too (once per project: not beside dev)."""
    protect: bool = False
    """Delete/rebuild protection and Pulumi `protect` (prod)."""
    backups: bool = False
    """Hetzner's daily server backups."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Hetzner labels for every resource."""
    extra_tcp_ports: Sequence[int] = ()
    """TCP ports opened to the internet besides 80 and 443."""
    swap_mib: int = 2048
    volume_size_gb: int = 20
    reboot_time: str = "04:00"
    """When unattended upgrades may reboot (HH:MM, UTC)."""
    tailscale_auth_key: pulumi.Output[str] | None = None
    """A Tailscale auth key (secret) to join the tailnet with; None: no Tailscale."""
    private_rules: Mapping[str, FirewallRule] = field(default_factory=dict)
    """Rules for private-network traffic (a Swarm node's ports): UFW only, since
    Hetzner's cloud firewall does not filter the private network."""
    artifact_prefix: str = ""
    """Where this server's artifacts go under build/<stack>/ (one folder per node)."""

    @property
    def slug(self) -> str:
        """The host name as a Hetzner resource name (unique per project)."""
        return self.hostname.replace(".", "-")

    @property
    def rules(self) -> dict[str, FirewallRule]:
        return inbound_rules(self.admin_cidrs, self.extra_tcp_ports)

    def access(self, deploy_public_key: str) -> AccessParams:
        """Who may reach the running host, once the deploy key exists."""
        return AccessParams(
            admin_user=self.admin_user,
            ssh_public_keys=(*self.admin_ssh_keys, deploy_public_key.strip()),
            rules={**self.rules, **self.private_rules},
            admin_cidrs=self.admin_cidrs,
            tailscale=self.tailscale_auth_key is not None,
        )

    def cloud_init(self, deploy_public_key: str, volume_id: str) -> CloudInitParams:
        """First-boot parameters, once the deploy key and volume exist.

        Access is the bootstrap (`bootstrap_access`): none of the access
        settings, so changing them never changes the user data.
        """
        return CloudInitParams(
            hostname=self.hostname,
            image=self.image,
            access=bootstrap_access(
                self.admin_user, deploy_public_key, self.tailscale_auth_key is not None
            ),
            data_dir=self.layout.data_dir,
            volume_device=f"/dev/disk/by-id/scsi-0HC_Volume_{volume_id}",
            volume_label=VOLUME_LABEL,
            swap_mib=self.swap_mib,
            reboot_time=self.reboot_time,
        )


def _hcloud_id(output: pulumi.Output[str]) -> pulumi.Output[int]:
    """Hetzner resources take each other's ids as integers."""
    return output.apply(int)


def _first_host(network: str) -> str:
    """The server's address in its IPv6 /64 (Hetzner assigns ::1)."""
    return str(ipaddress.IPv6Network(network)[1])


class HardenedServer(pulumi.ComponentResource):
    """A hardened Hetzner server with stable IPs, rDNS and a data volume."""

    host: Host
    """Where services deploy; its `ready` is the cloud-init wait and the access step."""
    ipv4: pulumi.Output[str]
    ipv6: pulumi.Output[str]
    server_id: pulumi.Output[str]
    ssh_command: pulumi.Output[str]
    data_dir: str

    def __init__(
        self, name: str, args: HardenedServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.admin_ssh_keys:
            raise ValueError(
                f"HardenedServer {name!r}: admin_ssh_keys is empty, so no admin could log in"
            )
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions(parent=self, protect=args.protect)
        labels = dict(args.labels)

        deploy_key = tls.PrivateKey(
            f"{name}-deploy-key",
            algorithm="ED25519",
            # pulumi_tls marks the private key outputs secret itself; the mock
            # engine does not, so the connection wraps it again below. Protected
            # in prod: a new key would lock every SSH step out until the access
            # step (itself an SSH step) installed it.
            opts=guarded,
        )
        keys = [
            _admin_key(name, args.slug, public_key, labels, child)
            for public_key in (args.admin_ssh_keys if args.register_admin_keys else ())
            # sk- keys reach the admin through authorized_keys only (hetzner_keys.py).
            if hetzner_accepts(public_key)
        ]
        keys.append(
            hcloud.SshKey(
                f"{name}-key-deploy",
                name=f"{args.slug}-deploy",
                public_key=deploy_key.public_key_openssh.apply(str.strip),
                labels=labels,
                opts=child,
            )
        )

        firewall = hcloud.Firewall(
            f"{name}-firewall",
            name=args.slug,
            labels=labels,
            rules=[
                hcloud.FirewallRuleArgs(
                    direction=rule.direction,
                    protocol=rule.protocol,
                    port=None if rule.port is None else str(rule.port),
                    source_ips=list(rule.sources),
                    description=key,
                )
                for key, rule in args.rules.items()
            ],
            opts=child,
        )

        ips = {
            family: hcloud.PrimaryIp(
                f"{name}-{family}",
                name=f"{args.slug}-{family}",
                type=family,
                location=args.location,
                # No assignee_type: the server's public_nets assigns the IP, and
                # Hetzner reports an unassigned IP as `unassigned`, so a fixed
                # "server" here would show a diff on every run.
                # The address (its mail reputation and PTR) outlives any server.
                auto_delete=False,
                delete_protection=args.protect,
                labels=labels,
                opts=guarded,
            )
            for family in ("ipv4", "ipv6")
        }
        self.ipv4 = ips["ipv4"].ip_address
        self.ipv6 = ips["ipv6"].ip_network.apply(_first_host)
        for family, address in (("ipv4", self.ipv4), ("ipv6", self.ipv6)):
            hcloud.Rdns(
                f"{name}-rdns-{family}",
                primary_ip_id=_hcloud_id(ips[family].id),
                ip_address=address,
                dns_ptr=args.hostname,
                opts=child,
            )

        volume = hcloud.Volume(
            f"{name}-data",
            name=f"{args.slug}-data",
            size=args.volume_size_gb,
            location=args.location,
            format="ext4",
            delete_protection=args.protect,
            labels=labels,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )

        user_data = pulumi.Output.all(deploy_key.public_key_openssh, volume.id).apply(
            lambda values: render_user_data(args.cloud_init(values[0], values[1]))
        )
        artifacts.publish(f"{args.artifact_prefix}{USER_DATA_ARTIFACT}", user_data)

        server = hcloud.Server(
            f"{name}-server",
            name=args.hostname,
            server_type=args.server_type,
            image=args.image.value,
            location=args.location,
            backups=args.backups,
            labels=labels,
            ssh_keys=[key.id for key in keys],
            firewall_ids=[_hcloud_id(firewall.id)],
            public_nets=[
                hcloud.ServerPublicNetArgs(
                    ipv4_enabled=True,
                    ipv4=_hcloud_id(ips["ipv4"].id),
                    ipv6_enabled=True,
                    ipv6=_hcloud_id(ips["ipv6"].id),
                )
            ],
            user_data=user_data,
            delete_protection=args.protect,
            rebuild_protection=args.protect,
            # A new server takes over the old one's primary IPs and volume,
            # which Hetzner lets only one server hold: the old one goes first.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                ignore_changes=IGNORED_AFTER_CREATE,
                delete_before_replace=True,
            ),
        )
        attachment = hcloud.VolumeAttachment(
            f"{name}-data-attachment",
            volume_id=_hcloud_id(volume.id),
            server_id=_hcloud_id(server.id),
            automount=False,
            # A volume is attached to one server at a time.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        connection = command.remote.ConnectionArgs(
            host=self.ipv4,
            user=args.admin_user,
            private_key=pulumi.Output.secret(deploy_key.private_key_openssh),
            # SSH is not up for the first minute of a boot: keep dialling.
            dial_error_limit=60,
            per_dial_timeout=10,
        )
        # Every step on this host carries the server's id as a trigger (through
        # `run_step`), so a replaced server gets every step again, in order.
        booting = Host("server", connection, args.layout, identity=server.id)
        wait = run_step(
            booting,
            f"{name}-cloud-init",
            render_wait_script(
                args.layout.data_dir,
                # The deploy user's: the services' files, volumes and release history.
                (args.layout.compose_dir, args.layout.volumes_dir, args.layout.releases_dir),
            ),
            after=[server, attachment],
            parent=self,
        )
        access_command = deploy_key.public_key_openssh.apply(
            lambda key: access_step_command(render_access_script(args.access(key)))
        )
        artifacts.publish(f"{args.artifact_prefix}{ACCESS_ARTIFACT}", access_command, 0o755)
        access = run_step(
            booting,
            f"{name}-access",
            access_command,
            # Re-run exactly when the rendered keys or rules change, and on a
            # new server (which boots with the bootstrap access only).
            triggers=[access_command.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())],
            # The cloud firewall admits the new admin networks first: the
            # step connects from one of them.
            after=[wait, firewall],
            parent=self,
        )
        # Everything that starts or changes something on the host afterwards
        # waits for the access step (through `host.ready`): a failed access
        # step leaves the host's keys and firewall unlike the config, which
        # must be fixed before anything deploys on top of it (backups
        # included). Steps that start nothing (the services' files and image
        # pulls, `starts_nothing`) need only the boot (`host.booted`) and run
        # beside it: whatever they leave runs only once a service step, which
        # waits for the access step, starts it.
        self.host = dataclasses.replace(booting, ready=(wait, access), booted=(wait,))
        if args.tailscale_auth_key is not None:
            run_step(
                self.host,
                f"{name}-tailscale",
                # Installed here too: the first boot did only if it was on then.
                # The auth key goes on stdin: never in argv, user data or logs.
                f"{tailscale_install(args.image)} && "
                "sudo -n tailscale up --auth-key=file:/dev/stdin "
                f"--hostname={encode.shell(args.slug)}",
                stdin=args.tailscale_auth_key,
                secret_stdin=True,
                parent=self,
            )

        self.server_id = server.id
        self.data_dir = args.layout.data_dir
        self.ssh_command = pulumi.Output.concat("ssh ", args.admin_user, "@", self.ipv4)
        self.register_outputs(
            {
                "ipv4": self.ipv4,
                "ipv6": self.ipv6,
                "serverId": self.server_id,
                "sshCommand": self.ssh_command,
                "dataDir": self.data_dir,
            }
        )


def _digest10(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _admin_key(
    name: str, slug: str, public_key: str, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> hcloud.SshKey:
    """An admin key registered with Hetzner, known by its key material alone.

    Hetzner refuses a second key with the same fingerprint, and Pulumi creates a
    replacement before deleting the old one, so a key whose comment changed must
    stay the same resource: its URN comes from the type and key only, and the
    public key (comment included) is ignored after creation (a new key is a new
    URN anyway). Delete-before-replace is no way out: the engine would replace
    the server that lists the key, ignore_changes notwithstanding. The alias is
    the name the key had when the URN included its comment.
    """
    material = " ".join(public_key.split()[:2])
    return hcloud.SshKey(
        f"{name}-key-{_digest10(material)}",
        name=f"{slug}-{_digest10(public_key)}",
        public_key=public_key,
        labels=labels,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                aliases=[pulumi.Alias(name=f"{name}-key-{_digest10(public_key)}")],
                ignore_changes=["publicKey"],
            ),
        ),
    )
