"""Deploy a host's services with pulumi-command, one component per service.

`ComposeStack` owns the generated passwords and the files step (compose.yaml,
Caddyfile, preset files); each `Service` owns one deploy step whose trigger is
the hash of that service's rendered definition (and of its env file), so a
preview shows exactly which services change, and which follow Pulumi
dependencies mirroring compose `depends_on`.

Files are carried by the steps themselves rather than `CopyToRemote`: the
non-secret ones inside the files step's command (a preview shows their diff),
the secret env files on a service step's stdin (a secret input, so encrypted in
state and never on the deploying machine's disk). The same mechanism works for
the `local` and `remote` commands alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_random as random

from components.firewall import TAILNET
from components.host import Host
from components.mail_records import mta_sts_policy
from components.monitoring.params import MonitoringParams, SmtpRelay, Thresholds
from components.services import kinds
from components.services.caddyfile import BACKUP_HEALTH_PATH, LOCAL_HTTP_PORT, METRICS_PATH
from components.services.compose import env_file_path, render_env_file, service_hash
from components.services.model import Project, Secret, Service
from components.services.monitoring import (
    CADVISOR_PORT,
    GRAFANA_PASSWORD,
    PROXY_METRICS_PORT,
    WEBHOOK_SECRET,
)
from components.services.presets import AppParams, Relay
from components.services.stack import MtaSts, StackParams, build_stack
from components.services.steps import (
    render_deploy_step,
    render_down_step,
    render_files_step,
    render_remove_step,
)
from mailstack.artifacts import publish
from mailstack.config import MailRelay, StackConfig

ARTIFACT_DIR = "compose"


@dataclass(frozen=True)
class ServicesArgs:
    """What a host runs and how to reach it."""

    host: Host
    """Where the services run (the local engine or a server over SSH)."""
    stack: StackParams
    """The app preset and proxy settings, already mapped from the config."""
    config_secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Secret config values the services use, by config key (e.g. `smtpPassword`)."""

    @property
    def project_dir(self) -> str:
        """Where compose.yaml and its files live on the host (on the data volume)."""
        return f"{self.host.data_dir}/{ARTIFACT_DIR}"


def services_args(config: StackConfig, host: Host) -> ServicesArgs:
    """Map the stack's config to the services' Args."""
    # Imported here: components.backup imports this module.
    from components.backup import HostPaths

    local = config.is_local
    if config.mail.relay is MailRelay.SINK:
        relay = Relay(kinds.MAIL_SINK_NAME, kinds.MAIL_SINK_SMTP_PORT, starttls=False)
    else:
        smtp_host = config.mail.smtp_host or (
            f"email-smtp.{config.mail.ses_region}.amazonaws.com"
            if config.mail.relay is MailRelay.SES
            else ""
        )
        relay = Relay(
            smtp_host,
            config.mail.smtp_port,
            config.mail.smtp_username,
            Secret("config", "smtpPassword"),
        )
    app_url = (
        f"http://localhost:{config.services.local_http_port}"
        if local
        else f"https://{config.domain.app_host}"
    )
    app = AppParams(
        preset=config.app.preset,
        image=config.app.image,
        port=config.app.port,
        health_path=config.app.health_path,
        admin_paths=tuple(config.app.admin_paths),
        app_url=app_url,
        from_address=config.from_address,
        relay=relay,
        redis=config.services.redis,
        minio=config.services.minio,
        buckets=tuple(config.services.minio_buckets),
        egress=not local,
        web_image=config.app.web_image,
        web_port=config.app.web_port,
        health_command=tuple(config.app.health_command),
        web_health_command=tuple(config.app.web_health_command),
    )
    # Only scheduled backups publish a status and metrics.
    backups = not local and config.backup.scheduled
    mta_sts = None
    if not local and config.dns.receives_mail and config.dns.mta_sts:
        # The same pure function renders the policy whose id DNS publishes.
        policy = mta_sts_policy(config.dns.mta_sts_mode.value, [config.domain.mail_host])
        mta_sts = MtaSts(f"mta-sts.{config.domain.domain}", policy)
    admin_cidrs = list(config.admin.cidrs)
    if config.admin.tailscale:
        admin_cidrs.append(TAILNET)
    alerting = _alerting(config, relay, app_url)
    if local and alerting:
        # Published on 127.0.0.1 only; Docker forwards from a private bridge address.
        admin_cidrs += LOCAL_ADMIN_CIDRS
    stack = StackParams(
        project=f"mailstack-{pulumi.get_stack()}",
        app=app,
        app_host="" if local else config.domain.app_host,
        # Locally there is no public name to redirect to.
        www_host=f"www.{config.domain.domain}" if config.domain.www_redirect and not local else "",
        admin_cidrs=tuple(admin_cidrs),
        local_http_port=config.services.local_http_port,
        local_mail_ui_port=config.services.local_mail_ui_port,
        volume_root="" if local else f"{host.data_dir}/volumes",
        mta_sts=mta_sts,
        # Written by the backup units on the host (components/backup.py).
        backup_status_dir=f"{host.data_dir}/status" if backups else "",
        # Servers only: locally it would watch the developer's machine (or
        # its engine's VM), and no backups write metrics there.
        monitoring=not local and config.services.monitoring,
        textfile_dir=HostPaths.on(host.data_dir).metrics_dir if backups else "",
        alerting=alerting,
    )
    secrets = {}
    if relay.password is not None:
        secrets[relay.password.key] = config.secrets.get(relay.password.key)
    if alerting and alerting.webhook:
        secrets[WEBHOOK_SECRET] = config.secrets.get(WEBHOOK_SECRET)
    return ServicesArgs(host=host, stack=stack, config_secrets=secrets)


LOCAL_ADMIN_CIDRS = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def _alerting(config: StackConfig, relay: Relay, app_url: str) -> MonitoringParams | None:
    """The monitoring stack's settings (issue 16), None when it does not run."""
    local = config.is_local
    if not (config.services.local_monitoring if local else config.services.monitoring):
        return None
    s = config.services
    health = config.app.health_path
    relay_at = f"{relay.host}:{relay.port}"
    return MonitoringParams(
        host=f"mailstack-{pulumi.get_stack()}",
        alert_email=s.alert_email or f"postmaster@{config.domain.domain}",
        from_address=config.from_address,
        public_url=app_url,
        relay=SmtpRelay(relay_at, relay.username, relay.password is not None, relay.starttls),
        app_health_url=(
            f"http://{kinds.PROXY_NAME}:{LOCAL_HTTP_PORT}{health}"
            if local
            else f"https://{config.domain.app_host}{health}"
        ),
        # The probe speaks STARTTLS: a relay on 465 (implicit TLS) is not probed.
        relay_probe=relay_at if relay.starttls and not local else "",
        mail_host="" if local else config.domain.mail_host,
        # The local stack has no route out: a webhook could never be reached.
        webhook=not local and config.secrets.has(WEBHOOK_SECRET),
        # Locally these would watch the developer's machine, as node_exporter would.
        node_exporter="" if local else f"{kinds.NODE_EXPORTER_NAME}:{kinds.NODE_EXPORTER_PORT}",
        container_exporter="" if local else f"cadvisor:{CADVISOR_PORT}",
        caddy_metrics=f"{kinds.PROXY_NAME}:{PROXY_METRICS_PORT}",
        thresholds=Thresholds(
            disk_percent=s.alert_disk_percent,
            memory_percent=s.alert_memory_percent,
            cpu_percent=s.alert_cpu_percent,
            send_failure_ratio=s.alert_send_failure_percent / 100,
            cert_days=s.alert_cert_days,
        ),
        cooldown=f"{s.alert_cooldown_minutes}m",
    )


def _step(
    name: str,
    host: Host,
    create: str,
    *,
    update: str | None = None,
    delete: str | None = None,
    stdin: pulumi.Input[str] | None = None,
    triggers: Sequence[pulumi.Input[str]] = (),
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """A shell step on the host: `local` for the local engine, `remote` over SSH."""
    if host.connection is None:
        return command.local.Command(
            name,
            create=create,
            update=update,
            delete=delete,
            stdin=stdin,
            triggers=list(triggers),
            interpreter=["/bin/sh", "-c"],
            # Our scripts never print their stdin; compose reports on stderr.
            logging=command.local.Logging.STDERR,
            opts=opts,
        )
    return command.remote.Command(
        name,
        connection=host.connection,
        create=create,
        update=update,
        delete=delete,
        stdin=stdin,
        triggers=list(triggers),
        logging=command.remote.Logging.STDERR,
        opts=opts,
    )


@dataclass(frozen=True)
class ServiceArgs:
    host: Host
    """Where the service runs."""
    service: Service
    """The service's definition."""
    project: Project
    """The project it belongs to (name, volume root)."""
    project_dir: str
    """Directory of compose.yaml on the host."""
    env_file: pulumi.Output[str] | None
    """The service's env file (secret), when it has secret variables."""
    after: Sequence[pulumi.Resource]
    """Steps that must finish first: the files step and the services it depends on."""


class ServiceDeployment(pulumi.ComponentResource):
    """One compose service on a host: `mailstack:services:Service`."""

    step: pulumi.CustomResource
    service_name: str

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:services:Service", name, None, opts)
        service, project = args.service, args.project
        self.service_name = service.name
        definition = service_hash(service, project)
        triggers: list[pulumi.Input[str]] = [definition]
        if args.env_file is not None:
            triggers.append(args.env_file.apply(lambda t: hashlib.sha256(t.encode()).hexdigest()))
        create = render_deploy_step(service, project, args.project_dir, definition)
        if args.host.is_local:
            publish(f"{ARTIFACT_DIR}/deploy/{service.name}.sh", create, 0o755)
        self.step = _step(
            f"{name}-deploy",
            args.host,
            create,
            delete=render_remove_step(service, project, args.project_dir),
            stdin=args.env_file,
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.host.ready, *args.after]),
        )
        self.register_outputs({"definitionHash": definition})


class ComposeStack(pulumi.ComponentResource):
    """Every service of one host, deployed in dependency order: `mailstack:services:Stack`."""

    app_url: pulumi.Output[str]
    backup_health_url: str | None
    """Public URL of the backup health endpoint (503 while backups are stale);
    None when backups are off."""
    metrics_url: str | None
    """URL of the host's Prometheus metrics (node_exporter, with the backups'
    metrics), answered only to `adminCidrs` and the tailnet; None when
    monitoring is off or on the local stack."""
    admin_password: pulumi.Output[str] | None
    """The app's first admin password (secret), when the preset generates one
    (listmonk's `admin` user); None otherwise."""
    grafana_password: pulumi.Output[str] | None
    """Grafana's `admin` password (secret); None when Grafana does not run."""
    services: dict[str, ServiceDeployment]
    project: Project
    """The rendered service model (what backups read their sources from)."""

    def __init__(
        self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:services:Stack", name, None, opts)
        rendered = build_stack(args.stack)
        project = self.project = rendered.project
        child = pulumi.ResourceOptions(parent=self)

        passwords = {
            secret.key: random.RandomPassword(
                f"{name}-{secret.key}-password", length=32, special=False, opts=child
            )
            for secret in _secrets(project)
            if secret.source == "random"
        }

        def value(secret: Secret) -> pulumi.Output[str]:
            if secret.source == "random":
                return pulumi.Output.secret(passwords[secret.key].result)
            return pulumi.Output.secret(args.config_secrets[secret.key])

        for path, text in rendered.files.items():
            publish(f"{ARTIFACT_DIR}/{path}", text)
        write_files = render_files_step(project, args.project_dir, rendered.files)
        first_write = render_files_step(project, args.project_dir, rendered.files, create=True)
        # Deleted last on `pulumi destroy` (every service step depends on it).
        down = render_down_step(project, args.project_dir)
        if args.host.is_local:
            publish(f"{ARTIFACT_DIR}/deploy/files.sh", write_files, 0o755)
            publish(f"{ARTIFACT_DIR}/deploy/files-create.sh", first_write, 0o755)
            publish(f"{ARTIFACT_DIR}/deploy/down.sh", down, 0o755)
        files = _step(
            f"{name}-files",
            args.host,
            first_write,
            update=write_files,
            delete=down,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.host.ready)),
        )

        self.services = {}
        for service in project.in_dependency_order():
            env_file: pulumi.Output[str] | None = None
            if service.secret_env:
                env_file = _env_file(service, value)
                publish(f"{ARTIFACT_DIR}/{env_file_path(service)}", env_file, 0o600)
            # Compose dependencies, plus the previous service in that order: a
            # deploy replaces one service at a time, never several at once.
            previous = list(self.services.values())[-1:]
            after = [
                files,
                *(self.services[d].step for d in sorted(service.depends_on)),
                *(s.step for s in previous if s.service_name not in service.depends_on),
            ]
            self.services[service.name] = ServiceDeployment(
                f"{name}-{service.name}",
                ServiceArgs(args.host, service, project, args.project_dir, env_file, after),
                opts=child,
            )

        self.app_url = pulumi.Output.from_input(args.stack.app.app_url)
        self.admin_password = (
            value(rendered.admin_password) if rendered.admin_password is not None else None
        )
        self.grafana_password = (
            value(GRAFANA_PASSWORD) if "grafana" in {s.name for s in project.services} else None
        )
        self.backup_health_url = (
            f"{args.stack.app.app_url}{BACKUP_HEALTH_PATH}"
            if args.stack.backup_status_dir
            else None
        )
        self.metrics_url = (
            f"{args.stack.app.app_url}{METRICS_PATH}" if args.stack.monitoring else None
        )
        self.register_outputs({"appUrl": self.app_url})


def _env_file(
    service: Service, value: Callable[[Secret], pulumi.Output[str]]
) -> pulumi.Output[str]:
    names = sorted(service.secret_env)
    values = pulumi.Output.all(*(value(service.secret_env[n]) for n in names))

    def render(resolved: list[str]) -> str:
        return render_env_file(dict(zip(names, resolved, strict=True)))

    return pulumi.Output.secret(values.apply(render))


def _secrets(project: Project) -> list[Secret]:
    seen: dict[tuple[str, str], Secret] = {}
    for service in project.services:
        for secret in service.secret_env.values():
            seen.setdefault((secret.source, secret.key), secret)
    return [seen[k] for k in sorted(seen)]
