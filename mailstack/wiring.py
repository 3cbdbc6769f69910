"""The program's wiring: the validated config mapped onto each component's Args.

This is the one place that reads `StackConfig` on behalf of the components
(they take typed Args and never see the config), builds them in order and
exports what an operator needs next. `__main__.py` only loads the config and
calls `deploy`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pulumi

from common.enums import MailRelay
from common.layout import HostLayout
from components.backup import Backup, BackupArgs, BackupSettings, Schedules
from components.backup_sources import (
    AppControl,
    BackupSource,
    app_control,
    sources_from_project,
)
from components.firewall import TAILNET
from components.host import Host
from components.mail_records import DmarcParams, MailRecordParams, SesParams, mta_sts_policy
from components.monitoring.params import MonitoringParams, SmtpRelay, Thresholds
from components.services import kinds
from components.services.caddyfile import LOCAL_HTTP_PORT
from components.services.deploy import ComposeProject, ComposeProjectArgs
from components.services.model import Project, Secret
from components.services.monitoring import CADVISOR_PORT, PROXY_METRICS_PORT, WEBHOOK_SECRET
from components.services.presets import AppParams, Relay
from components.services.project import MtaSts, ProjectParams, build_project
from mailstack.config import ConfigError, Problem, StackConfig
from mailstack.config.rules.storage import runs_storage
from mailstack.config.secret_env import SECRET_ENV_KEY
from mailstack.cost import monthly_cost_eur
from mailstack.images import prepare_host, resolved_digests
from mailstack.outputs import export
from mailstack.ses import ses_as_code, ses_feedback_url

if TYPE_CHECKING:
    from components.dns import MailDomain, MailDomainArgs
    from components.server import HardenedServerArgs


def server_args(config: StackConfig, layout: HostLayout | None = None) -> HardenedServerArgs:
    """Map the stack config onto the server's Args."""
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServerArgs

    labels = dict(label.split("=", 1) for label in config.server.labels)
    # Throwaway stacks carry their expiry in `serverLabels` (tools/throwaway.py),
    # so the reaper reads one label scheme.
    labels.update({"managed-by": "mailstack", "environment": config.stack.environment.value})
    return HardenedServerArgs(
        hostname=config.domain.mail_host,
        server_type=config.server.type,
        image=config.server.image,
        location=config.server.location,
        admin_user=config.admin.user,
        admin_ssh_keys=tuple(config.admin.ssh_public_keys),
        register_admin_keys=config.admin.register_ssh_keys,
        admin_cidrs=tuple(config.admin.cidrs),
        layout=layout or HostLayout(),
        protect=config.is_prod,
        backups=config.server.backups,
        labels=labels,
        extra_tcp_ports=tuple(config.admin.extra_tcp_ports),
        swap_mib=config.server.swap_mib,
        volume_size_gb=config.server.volume_size_gb,
        reboot_time=config.server.reboot_time,
        tailscale_auth_key=(
            config.secrets.get("tailscaleAuthKey") if config.admin.tailscale else None
        ),
    )


def _relay(config: StackConfig) -> Relay:
    """Where the app hands over mail: the local sink, SES or another SMTP relay."""
    if config.mail.relay is MailRelay.SINK:
        return Relay(kinds.MAIL_SINK_NAME, kinds.MAIL_SINK_SMTP_PORT, starttls=False)
    smtp_host = config.mail.smtp_host or (
        f"email-smtp.{config.mail.ses_region}.amazonaws.com"
        if config.mail.relay is MailRelay.SES
        else ""
    )
    return Relay(
        smtp_host,
        config.mail.smtp_port,
        config.mail.smtp_username,
        Secret("config", "smtpPassword"),
    )


def _app_params(config: StackConfig, relay: Relay, app_url: str, built_image: str) -> AppParams:
    return AppParams(
        preset=config.app.preset,
        image=built_image or config.app.image,
        port=config.app.port,
        health_path=config.app.health_path,
        admin_paths=tuple(config.app.admin_paths),
        app_url=app_url,
        from_address=config.from_address,
        relay=relay,
        redis=config.services.redis,
        storage=config.services.storage,
        buckets=tuple(config.services.storage_buckets),
        storage_public_url=_storage_public_url(config),
        egress=not config.is_local,
        web_image=config.app.web_image,
        web_port=config.app.web_port,
        health_command=tuple(config.app.health_command),
        web_health_command=tuple(config.app.web_health_command),
        ses_feedback=ses_feedback_url(config) != "",
        env=dict(a.split("=", 1) for a in config.app.env),
        secret_env={
            name: Secret("config", f"{SECRET_ENV_KEY}.{name}")
            for name in config.secrets.names(SECRET_ENV_KEY)
        },
        data_paths=tuple(config.app.data_paths),
        sqlite_files=tuple(config.app.sqlite_files),
    )


def _mta_sts(config: StackConfig) -> MtaSts | None:
    if config.is_local or not (config.dns.receives_mail and config.dns.mta_sts):
        return None
    # The same pure function renders the policy whose id DNS publishes.
    policy = mta_sts_policy(config.dns.mta_sts_mode.value, [config.domain.mail_host])
    return MtaSts(f"mta-sts.{config.domain.domain}", policy)


def _admin_cidrs(config: StackConfig, alerting: MonitoringParams | None) -> tuple[str, ...]:
    admin_cidrs = list(config.admin.cidrs)
    if config.admin.tailscale:
        admin_cidrs.append(TAILNET)
    if config.is_local and alerting:
        # Published on 127.0.0.1 only; Docker forwards from a private bridge address.
        admin_cidrs += LOCAL_ADMIN_CIDRS
    return tuple(admin_cidrs)


def services_args(config: StackConfig, host: Host, built_image: str = "") -> ComposeProjectArgs:
    """Map the stack's config to the services' Args (`built_image`: the app image
    the program built, which replaces `appImage`)."""
    local = config.is_local
    relay = _relay(config)
    app_url = (
        f"http://localhost:{config.services.local_http_port}"
        if local
        else f"https://{config.domain.app_host}"
    )
    app = _app_params(config, relay, app_url, built_image)
    # Only scheduled backups publish a status and metrics.
    backups = not local and config.backup.scheduled
    mta_sts = _mta_sts(config)
    alerting = _alerting(config, host, relay, app_url)
    admin_cidrs = _admin_cidrs(config, alerting)
    stack = ProjectParams(
        project=host.layout.project,
        app=app,
        app_host="" if local else config.domain.app_host,
        # Locally there is no public name to redirect to.
        www_host=f"www.{config.domain.domain}" if config.domain.www_redirect and not local else "",
        admin_cidrs=admin_cidrs,
        local_http_port=config.services.local_http_port,
        local_mail_ui_port=config.services.local_mail_ui_port,
        volume_root="" if local else host.layout.volumes_dir,
        mta_sts=mta_sts,
        # Written by the backup units on the host (components/backup.py).
        backup_status_dir=host.layout.status_dir if backups else "",
        # Servers only: locally it would watch the developer's machine (or
        # its engine's VM), and no backups write metrics there.
        monitoring=not local and config.services.monitoring,
        textfile_dir=host.layout.metrics_dir if backups else "",
        alerting=alerting,
        image_mirror=config.services.image_registry_mirror,
        storage_host="" if local else _storage_host(config),
        local_storage_port=config.services.local_storage_port if local else 0,
    )
    if not local and config.app.pin_digests:
        # A built image is pinned by its content tag: the registry has no
        # digest for it before the first `up` pushes it.
        stack = replace(stack, digests=resolved_digests(config, stack, skip=built_image))
    secrets = _config_secrets(config, relay, alerting)
    return ComposeProjectArgs(
        host=host, stack=stack, config_secrets=secrets, protect_passwords=config.is_prod
    )


def _config_secrets(
    config: StackConfig, relay: Relay, alerting: MonitoringParams | None
) -> dict[str, pulumi.Output[str]]:
    """The secret config values the services' env files take, by key."""
    secrets = {}
    if relay.password is not None:
        secrets[relay.password.key] = config.secrets.get(relay.password.key)
    if alerting and alerting.webhook:
        secrets[WEBHOOK_SECRET] = config.secrets.get(WEBHOOK_SECRET)
    for name in config.secrets.names(SECRET_ENV_KEY):
        secrets[f"{SECRET_ENV_KEY}.{name}"] = config.secrets.member(SECRET_ENV_KEY, name)
    return secrets


LOCAL_ADMIN_CIDRS = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def _alerting(
    config: StackConfig, host: Host, relay: Relay, app_url: str
) -> MonitoringParams | None:
    """The monitoring stack's settings, None when it does not run."""
    local = config.is_local
    if not (config.services.local_monitoring if local else config.services.monitoring):
        return None
    s = config.services
    health = config.app.health_path
    relay_at = f"{relay.host}:{relay.port}"
    return MonitoringParams(
        host=host.layout.project,
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


def _storage_host(config: StackConfig) -> str:
    """The object store's public host, when it has one."""
    sub = config.services.storage_subdomain
    return f"{sub}.{config.domain.domain}" if sub and runs_storage(config) else ""


def _storage_public_url(config: StackConfig) -> str:
    """What presigned URLs are signed for: the store's route through the proxy."""
    if not runs_storage(config):
        return ""
    if config.is_local:
        return f"http://localhost:{config.services.local_storage_port}"
    host = _storage_host(config)
    return f"https://{host}" if host else ""


def backup_args(config: StackConfig, host: Host, project: Project) -> BackupArgs:
    """Map the validated stack config and the host's services onto the component's Args."""
    project_dir = host.layout.compose_dir
    sources = sources_from_project(project, project_dir)
    return backup_args_for(config, host, sources, app_control(project, project_dir, sources))


def backup_args_for(
    config: StackConfig, host: Host, sources: tuple[BackupSource, ...], app: AppControl
) -> BackupArgs:
    """The component's Args for what `host` saves (`sources`) and how its restore
    stops and starts the app (`app`)."""
    b = config.backup
    s3 = b.repository.startswith("s3:")
    settings = BackupSettings(
        repository=b.repository,
        # The stack, not the environment: every throwaway is environment dev,
        # and a shared name would let one prune or stand in for another's
        # snapshots. The same name as the compose project.
        hostname=host.layout.project,
        sources=sources,
        keep_daily=b.keep_daily,
        keep_weekly=b.keep_weekly,
        keep_monthly=b.keep_monthly,
        check_subset=b.check_subset,
        max_age_hours=b.max_age_hours,
        app=app,
        paths=host.layout,
        uses_credentials=s3,
    )
    return BackupArgs(
        host=host,
        settings=settings,
        schedules=Schedules(backup=b.schedule, check=b.check_schedule) if b.scheduled else None,
        password=config.secrets.get("backupPassword"),
        heartbeat_url=(
            config.secrets.get("backupHeartbeatUrl")
            if config.secrets.has("backupHeartbeatUrl")
            else None
        ),
        s3_access_key_id=b.s3_access_key_id if s3 else "",
        s3_secret_access_key=config.secrets.get("backupS3SecretAccessKey") if s3 else None,
    )


def backup_outputs(config: StackConfig, backup: Backup | None) -> dict[str, object]:
    """The `backup` stack output: where to look and how to tell a stale backup."""
    if backup is None:
        return {"enabled": False}
    b = config.backup
    paths = HostLayout()
    return {
        "enabled": True,
        "scheduled": b.scheduled,
        "repository": b.repository,
        "schedule": b.schedule,
        "checkSchedule": b.check_schedule,
        "retention": {"daily": b.keep_daily, "weekly": b.keep_weekly, "monthly": b.keep_monthly},
        "maxAgeHours": b.max_age_hours,
        "lastSuccessFile": paths.last_success_file,
        "metricsFile": f"{paths.metrics_dir}/mailstack_backup.prom",
        "status": backup.status,
        "statusCommand": backup.status_command,
        "restoreCommand": backup.restore_command,
        "stale": f"statusCommand exits 1 unless fresh: 'backup STALE' when the last success "
        f"is older than {b.max_age_hours}h or there is none, 'backup FAILED' when a backup or "
        "check failed since; status.state is that as of the last time the backup units "
        "were installed; Prometheus: "
        f"time() - mailstack_backup_last_success_timestamp_seconds > {b.max_age_hours * 3600}",
    }


def mail_domain_args(
    config: StackConfig,
    server_ipv4: pulumi.Input[str],
    server_ipv6: pulumi.Input[str] | None,
) -> MailDomainArgs:
    """Map the stack config (and the server's addresses) to `MailDomainArgs`."""
    # Imported here: the local stack must never load pulumi_cloudflare.
    from components.dns import MailDomainArgs

    dns, domain = config.dns, config.domain
    ses = None
    if config.mail.relay is MailRelay.SES:
        tokens = tuple(dns.ses_dkim_tokens) if config.ses_signs_dkim else ()
        ses = SesParams(config.mail.ses_region, config.ses_mail_from, tokens)
    records = MailRecordParams(
        domain=domain.domain,
        app_host=domain.app_host,
        mail_host=domain.mail_host,
        dmarc=DmarcParams(
            policy=dns.dmarc_policy.value,
            rua=config.dmarc_rua,
            subdomain_policy=dns.dmarc_subdomain_policy,
            pct=dns.dmarc_pct,
            ruf=dns.dmarc_ruf,
            adkim=dns.dkim_alignment.value,
            aspf=dns.spf_alignment.value,
        ),
        caa_issuer=dns.caa_issuer,
        caa_iodef=dns.caa_iodef or config.dmarc_rua,
        proxy_web=dns.proxy_web,
        www_redirect=domain.www_redirect,
        storage_host=_storage_host(config),
        has_ipv6=server_ipv6 is not None,
        receives_mail=dns.receives_mail,
        spf_includes=tuple(dns.spf_includes),
        spf_server_ips=dns.spf_server_ips,
        spf_all=dns.spf_all.value,
        dkim_selectors=() if config.ses_signs_dkim else tuple(dns.dkim_selectors),
        ses=ses,
        mta_sts_mode=dns.mta_sts_mode.value if dns.mta_sts else "",
        tls_rpt_rua=dns.tls_rpt,
        null_mx_names=tuple(dns.null_mx_names),
    )
    return MailDomainArgs(
        zone_id=dns.zone_id,
        records=records,
        server_ipv4=server_ipv4,
        server_ipv6=server_ipv6,
        smtp_host=config.mail.smtp_host,
        stack=pulumi.get_stack(),
    )


def export_stack(config: StackConfig) -> None:
    """The outputs every stack has, one server or many."""
    export("environment", config.stack.environment.value)
    export("target", config.stack.target.value)
    export("monthlyCostEur", monthly_cost_eur(config))


def deploy(config: StackConfig) -> None:
    """Build every component of the stack and export its outputs."""
    stack = pulumi.get_stack()
    if config.server.node_pools:
        # A Swarm over several servers is mailstack/cluster_wiring.py's (__main__.py).
        raise ConfigError([Problem("nodePools", "multi-node stacks deploy with deploy_cluster")])
    export_stack(config)
    if config.is_local:
        layout = replace(
            HostLayout.for_stack(stack, "build/local"), releases_root="build/local-releases"
        )
        host = Host("local", connection=None, layout=layout)
        export("mailSinkUrl", f"http://localhost:{config.services.local_mail_ui_port}")
    else:
        host = _server(config, HostLayout.for_stack(stack))

    services_host, built_image = prepare_host(config, host)
    compose_args = services_args(config, services_host, built_image)
    backup = None
    if config.backup.enabled and not config.is_local:
        # Built first: the deploy steps take pre-update snapshots with its tools.
        project = build_project(compose_args.stack).project
        backup = Backup("backup", backup_args(config, host, project))
        compose_args = replace(compose_args, backup_tools=backup.installed)
    services = ComposeProject("services", compose_args)
    export("appUrl", services.app_url)
    if services.admin_password is not None:
        # Secret: `pulumi stack output --show-secrets appAdminPassword` (listmonk's `admin`).
        export("appAdminPassword", services.admin_password)
    if services.grafana_password is not None:
        # Secret: `pulumi stack output --show-secrets grafanaAdminPassword` (user `admin`).
        export("grafanaAdminPassword", services.grafana_password)
    export("backup", backup_outputs(config, backup))
    if services.backup_health_url is not None:
        # 503 while the host marks the last backup stale or failed: for uptime monitors.
        export("backupHealthUrl", services.backup_health_url)
    if services.metrics_url is not None:
        # Prometheus node_exporter (with the backup gauges), for `adminCidrs` only.
        export("metricsUrl", services.metrics_url)
    # The URL the throwaway smoke test and monitors probe.
    export("healthUrl", pulumi.Output.concat(services.app_url, config.app.health_path))


def _server(config: StackConfig, layout: HostLayout) -> Host:
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServer

    server = HardenedServer("server", server_args(config, layout))
    export("serverIpv4", server.ipv4)
    export("serverIpv6", server.ipv6)
    export("serverId", server.server_id)
    export("sshCommand", server.ssh_command)
    export("dataDir", server.data_dir)
    mail_domain = None
    if config.uses_dns:
        mail_domain = _mail_dns(config, server_ipv4=server.ipv4, server_ipv6=server.ipv6)
    if config.mail.ses_as_code:
        ses_as_code(config, mail_domain)
    return server.host


def _mail_dns(
    config: StackConfig,
    server_ipv4: pulumi.Input[str],
    server_ipv6: pulumi.Input[str] | None,
) -> MailDomain:
    # Imported here: the local stack must never load pulumi_cloudflare.
    from components.dns import MailDomain

    mail_domain = MailDomain("mail-domain", mail_domain_args(config, server_ipv4, server_ipv6))
    export("dnsRecords", mail_domain.records)
    export("manualSteps", mail_domain.manual_steps)
    if mail_domain.dkim_signing is not None:
        # Secret: `make ses-dkim` reads it to hand the key to SES (BYODKIM).
        export("dkimSigning", mail_domain.dkim_signing)
    return mail_domain
