"""The program's wiring: the validated config mapped onto each component's Args.

This is the one place that reads `StackConfig` on behalf of the components
(they take typed Args and never see the config), builds them in order and
exports what an operator needs next. `__main__.py` only loads the config and
calls `deploy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from common.enums import AppPreset, MailRelay
from common.layout import HostLayout
from components.backup import (
    Backup,
    BackupArgs,
    BackupSettings,
    Schedules,
    app_control,
    sources_from_project,
)
from components.firewall import TAILNET
from components.host import Host
from components.mail_records import DmarcParams, MailRecordParams, SesParams, mta_sts_policy
from components.services import kinds
from components.services.deploy import ComposeStack, ServicesArgs
from components.services.model import Project, Secret
from components.services.presets import MAILWIZZ_SOURCE_DIR, AppParams, Relay
from components.services.stack import MtaSts, StackParams, build_stack, image_refs
from mailstack.config import StackConfig
from mailstack.config.rules.storage import runs_storage
from mailstack.config.secret_env import SECRET_ENV_KEY

REPO = Path(__file__).resolve().parent.parent
"""The project's root (`appImageBuild` is a directory in it)."""

if TYPE_CHECKING:
    from components.dns import MailDomain, MailDomainArgs
    from components.host_prep import SourceArchive
    from components.images import RegistryLogin
    from components.server import HardenedServerArgs


def server_args(config: StackConfig, layout: HostLayout | None = None) -> HardenedServerArgs:
    """Map the stack config onto the server's Args."""
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServerArgs

    labels = dict(label.split("=", 1) for label in config.server.labels)
    # Throwaway stacks carry their expiry in `serverLabels` (mailstack/throwaway.py),
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


def services_args(config: StackConfig, host: Host, built_image: str = "") -> ServicesArgs:
    """Map the stack's config to the services' Args (`built_image`: the app image
    the program built, which replaces `appImage`)."""
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
        egress=not local,
        web_image=config.app.web_image,
        web_port=config.app.web_port,
        health_command=tuple(config.app.health_command),
        web_health_command=tuple(config.app.web_health_command),
        ses_feedback=_ses_feedback_url(config) != "",
        env=dict(a.split("=", 1) for a in config.app.env),
        secret_env={
            name: Secret("config", f"{SECRET_ENV_KEY}.{name}")
            for name in config.secrets.names(SECRET_ENV_KEY)
        },
        data_paths=tuple(config.app.data_paths),
        sqlite_files=tuple(config.app.sqlite_files),
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
    stack = StackParams(
        project=host.layout.project,
        app=app,
        app_host="" if local else config.domain.app_host,
        # Locally there is no public name to redirect to.
        www_host=f"www.{config.domain.domain}" if config.domain.www_redirect and not local else "",
        admin_cidrs=tuple(admin_cidrs),
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
        storage_host="" if local else _storage_host(config),
        local_storage_port=config.services.local_storage_port if local else 0,
    )
    if not local and config.app.pin_digests:
        # A built image is pinned by its content tag: the registry has no
        # digest for it before the first `up` pushes it.
        stack = replace(stack, digests=_digests(config, stack, skip=built_image))
    secrets = {}
    if relay.password is not None:
        secrets[relay.password.key] = config.secrets.get(relay.password.key)
    for name in config.secrets.names(SECRET_ENV_KEY):
        secrets[f"{SECRET_ENV_KEY}.{name}"] = config.secrets.member(SECRET_ENV_KEY, name)
    return ServicesArgs(host=host, stack=stack, config_secrets=secrets)


def _digests(config: StackConfig, stack: StackParams, skip: str = "") -> Mapping[str, str]:
    """The digest each image's tag points to now (a data source: runs at preview)."""
    # Imported here so the local stack never loads pulumi_docker.
    from components.images import resolve_digests

    refs = [r for r in image_refs(build_stack(stack).project) if r != skip]
    return resolve_digests(refs, _registry_login(config))


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
    b = config.backup
    s3 = b.repository.startswith("s3:")
    project_dir = host.layout.compose_dir
    sources = sources_from_project(project, project_dir)
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
        app=app_control(project, project_dir, sources),
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
        "check failed since; status.state is that as of the last `pulumi up`; Prometheus: "
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
    )


def deploy(config: StackConfig) -> None:
    """Build every component of the stack and export its outputs."""
    stack = pulumi.get_stack()
    pulumi.export("environment", config.stack.environment.value)
    pulumi.export("target", config.stack.target.value)
    if config.is_local:
        host = Host("local", connection=None, layout=HostLayout.for_stack(stack, "build/local"))
        pulumi.export("mailSinkUrl", f"http://localhost:{config.services.local_mail_ui_port}")
    else:
        host = _server(config, HostLayout.for_stack(stack))

    services_host, built_image = _prepare_host(config, host)
    services = ComposeStack("services", services_args(config, services_host, built_image))
    backup = None
    if config.backup.enabled and not config.is_local:
        backup = Backup("backup", backup_args(config, host, services.project))
    pulumi.export("appUrl", services.app_url)
    if services.admin_password is not None:
        # Secret: `pulumi stack output --show-secrets appAdminPassword` (listmonk's `admin`).
        pulumi.export("appAdminPassword", services.admin_password)
    pulumi.export("backup", backup_outputs(config, backup))
    if services.backup_health_url is not None:
        # 503 while the host marks the last backup stale or failed: for uptime monitors.
        pulumi.export("backupHealthUrl", services.backup_health_url)
    if services.metrics_url is not None:
        # Prometheus node_exporter (with the backup gauges), for `adminCidrs` only.
        pulumi.export("metricsUrl", services.metrics_url)
    # The URL the throwaway smoke test and monitors probe.
    pulumi.export("healthUrl", pulumi.Output.concat(services.app_url, config.app.health_path))


def _registry_login(config: StackConfig) -> RegistryLogin | None:
    """Credentials for the registry of private and built images, when configured."""
    from components.images import RegistryLogin

    registry = config.app.image_registry or config.app.image_repository.split("/", 1)[0]
    if not registry or not config.secrets.has("imageRegistryPassword"):
        return None
    return RegistryLogin(
        registry, config.app.image_registry_username, config.secrets.get("imageRegistryPassword")
    )


def _prepare_host(config: StackConfig, host: Host) -> tuple[Host, str]:
    """Build the app image, log the host in to the registry, deliver MailWizz's
    source: the host the services deploy on waits for all of it. Returns that
    host and the built image's ref ('' when nothing is built)."""
    login = None if config.is_local else _registry_login(config)
    ready: list[pulumi.Resource] = []
    built = ""
    if config.app.image_build:
        # Imported here: only stacks that build load pulumi_docker_build.
        from components.app_image import AppImage, AppImageArgs

        context = REPO / config.app.image_build
        name = context.name
        repository = (
            f"{config.app.image_repository}/{name}"
            if login is not None
            else f"mailstack-local/{name}"
        )
        platform = "linux/arm64" if config.server.type.startswith("cax") else "linux/amd64"
        image = AppImage("app-image", AppImageArgs(context, repository, login, platform))
        built = image.ref
        ready.append(image.image)
    archives: tuple[SourceArchive, ...] = ()
    if config.app.mailwizz_archive_sha256:
        from components.host_prep import SourceArchive

        archives = (
            SourceArchive(
                config.secrets.get("mailwizzArchiveUrl"),
                config.app.mailwizz_archive_sha256,
                f"{host.layout.compose_dir}/{MAILWIZZ_SOURCE_DIR}",
            ),
        )
    if login is not None or archives:
        from components.host_prep import HostPrep, HostPrepArgs

        prep = HostPrep("host-prep", HostPrepArgs(host, login, archives))
        ready.extend(prep.steps)
    return replace(host, ready=(*host.ready, *ready)), built


def _server(config: StackConfig, layout: HostLayout) -> Host:
    # Imported here so the local stack never loads pulumi_hcloud.
    from components.server import HardenedServer

    server = HardenedServer("server", server_args(config, layout))
    pulumi.export("serverIpv4", server.ipv4)
    pulumi.export("serverIpv6", server.ipv6)
    pulumi.export("serverId", server.server_id)
    pulumi.export("sshCommand", server.ssh_command)
    pulumi.export("dataDir", server.data_dir)
    mail_domain = None
    if config.uses_dns:
        mail_domain = _mail_dns(config, server_ipv4=server.ipv4, server_ipv6=server.ipv6)
    if config.mail.ses_as_code:
        _ses(config, mail_domain)
    return server.host


def _ses_feedback_url(config: StackConfig) -> str:
    """Where SES's bounces and complaints go: listmonk's SES webhook, else nowhere."""
    if not config.mail.ses_as_code or config.app.preset is not AppPreset.LISTMONK:
        return ""
    return f"https://{config.domain.app_host}/webhooks/service/ses"


def _ses(config: StackConfig, mail_domain: MailDomain | None) -> None:
    # Imported here: only stacks that manage SES load pulumi_aws.
    from components.ses import OwnDkim, SesArgs, SesDomain

    dkim = None
    if mail_domain is not None and mail_domain.dkim_signing is not None:
        dkim = OwnDkim(
            mail_domain.dkim_selector or "",
            mail_domain.dkim_signing.apply(lambda s: s["privateKeyPem"]),
        )
    ses = SesDomain(
        "ses",
        SesArgs(
            region=config.mail.ses_region,
            domain=config.domain.domain,
            mail_from_domain=config.ses_mail_from,
            dkim=dkim,
            feedback_url=_ses_feedback_url(config),
            name=f"mailstack-{pulumi.get_stack()}",
        ),
    )
    pulumi.export("sesConfigurationSet", ses.configuration_set)
    pulumi.export("sesFeedbackTopicArn", ses.feedback_topic_arn)
    if dkim is None:
        # Easy DKIM: set these as `sesDkimTokens`; DNS then publishes their CNAMEs.
        pulumi.export("sesDkimTokens", ses.dkim_tokens)


def _mail_dns(
    config: StackConfig,
    server_ipv4: pulumi.Input[str],
    server_ipv6: pulumi.Input[str] | None,
) -> MailDomain:
    # Imported here: the local stack must never load pulumi_cloudflare.
    from components.dns import MailDomain

    mail_domain = MailDomain("mail-domain", mail_domain_args(config, server_ipv4, server_ipv6))
    pulumi.export("dnsRecords", mail_domain.records)
    pulumi.export("manualSteps", mail_domain.manual_steps)
    if mail_domain.dkim_signing is not None:
        # Secret: `make ses-dkim` reads it to hand the key to SES (BYODKIM).
        pulumi.export("dkimSigning", mail_domain.dkim_signing)
    return mail_domain
