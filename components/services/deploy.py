"""Deploy a host's services with pulumi-command, one component per service.

`ComposeProject` owns the generated passwords and the files step (compose.yaml,
Caddyfile, preset files); each `ServiceDeployment` owns one deploy step whose
trigger is the hash of that service's rendered definition (and of its env file,
and the triggers of the one-shot jobs it starts after), so a
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
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_random as random

from common.artifacts import publish
from common.layout import HostLayout
from components.host import Host, Step, run_step
from components.services.caddyfile import BACKUP_HEALTH_PATH, METRICS_PATH, TEMPLATES
from components.services.compose import env_file_path, render_env_file, service_hash
from components.services.model import Condition, Project, Secret, Service
from components.services.monitoring import GRAFANA_PASSWORD
from components.services.project import ProjectParams, build_project
from components.services.pull import image_refs, refs_hash, render_pull_step
from components.services.steps import (
    Releases,
    render_deploy_step,
    render_down_step,
    render_files_step,
    render_remove_step,
    snapshots_first,
)

ARTIFACT_DIR = "compose"
"""Where synth writes the compose files (build/<stack>/compose)."""
RELEASE_SCRIPT = "mailstack-release"
"""Release history, pre-update snapshots and rollback, next to compose.yaml
(the deploy steps and `make rollback` run it)."""


@dataclass(frozen=True)
class ComposeProjectArgs:
    """What a host runs and how to reach it."""

    host: Host
    """Where the services run (the local engine or a server over SSH)."""
    stack: ProjectParams
    """The app preset and proxy settings, already mapped from the config."""
    config_secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Secret config values the services use, by config key (e.g. `smtpPassword`)."""
    backup_tools: Sequence[pulumi.Resource] | None = None
    """The steps that install the backup tools: the deploy steps wait for them
    to take pre-update snapshots. None: the stack has no backups."""
    protect_passwords: bool = False
    """Protect the generated passwords (prod): the database keeps the one it was
    created with on the volume, so a new one would lock the app out of it."""

    @property
    def project_dir(self) -> str:
        """Where compose.yaml and its files live on the host (on the data volume)."""
        return self.host.layout.compose_dir


@dataclass(frozen=True)
class ServiceDeploymentArgs:
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
    """Steps that must finish first: the files step, the pull step and the services
    it depends on (and, with backups, the backup tools' installation)."""
    backups: bool = False
    """The stack has backups: a release that changes an image or migrates is
    snapshotted first."""
    reruns_with: Sequence[pulumi.Input[str]] = ()
    """The triggers of the one-shot jobs it starts after: what such a job writes
    (listmonk's SMTP settings) is read at start, so a job that runs again must
    restart the service too."""


def releases_dir_from_compose(layout: HostLayout) -> str:
    """The release history's directory, relative to the compose directory."""
    relative = posixpath.relpath(layout.releases_dir, layout.compose_dir)
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", relative):
        raise ValueError(f"releases directory {layout.releases_dir!r} cannot be used in a script")
    return relative


def release_script(layout: HostLayout) -> str:
    """mailstack-release, defaulting to this host's release history (what
    `make rollback` runs it with)."""
    text = (TEMPLATES / RELEASE_SCRIPT).read_text()
    default = "RELEASES_DIR=${RELEASES_DIR:-../releases}\n"
    if default not in text:
        raise RuntimeError(f"{RELEASE_SCRIPT}: the line {default!r} is missing")
    relative = releases_dir_from_compose(layout)
    return text.replace(default, f"RELEASES_DIR=${{RELEASES_DIR:-{relative}}}\n", 1)


class ServiceDeployment(pulumi.ComponentResource):
    """One compose service on a host: `mailstack:services:ServiceDeployment`."""

    step: Step
    service_name: str
    triggers: list[pulumi.Input[str]]
    """What re-runs its step (the host's identity aside)."""

    def __init__(
        self, name: str, args: ServiceDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "mailstack:services:ServiceDeployment",
            name,
            None,
            _renamed_from("mailstack:services:Service", opts),
        )
        service, project = args.service, args.project
        self.service_name = service.name
        definition = service_hash(service, project)
        triggers: list[pulumi.Input[str]] = [definition]
        if args.env_file is not None:
            triggers.append(args.env_file.apply(lambda t: hashlib.sha256(t.encode()).hexdigest()))
        self.triggers = [*triggers, *args.reruns_with]
        layout = args.host.layout
        releases = Releases(
            releases_dir_from_compose(layout), layout.bin_dir if args.backups else ""
        )
        create = render_deploy_step(service, project, args.project_dir, definition, releases)
        if args.host.is_local:
            publish(f"{ARTIFACT_DIR}/deploy/{service.name}.sh", create, 0o755)
        self.step = run_step(
            args.host,
            f"{name}-deploy",
            create,
            delete=render_remove_step(service, project, args.project_dir),
            stdin=args.env_file,
            triggers=self.triggers,
            after=args.after,
            parent=self,
        )
        self.register_outputs({"definitionHash": definition})


class ComposeProject(pulumi.ComponentResource):
    """Every service of one host, deployed in dependency order:
    `mailstack:services:ComposeProject`."""

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
        self, name: str, args: ComposeProjectArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "mailstack:services:ComposeProject",
            name,
            None,
            _renamed_from("mailstack:services:Stack", opts),
        )
        rendered = build_project(args.stack)
        project = self.project = rendered.project
        files_on_host = {**rendered.files, RELEASE_SCRIPT: release_script(args.host.layout)}
        child = pulumi.ResourceOptions(parent=self)
        guarded = pulumi.ResourceOptions(parent=self, protect=args.protect_passwords)

        passwords = {
            secret.key: random.RandomPassword(
                f"{name}-{secret.key}-password", length=32, special=False, opts=guarded
            )
            for secret in _secrets(project)
            if secret.source == "random"
        }

        def value(secret: Secret) -> pulumi.Output[str]:
            if secret.source == "random":
                return pulumi.Output.secret(passwords[secret.key].result)
            return pulumi.Output.secret(args.config_secrets[secret.key])

        for path, text in files_on_host.items():
            publish(f"{ARTIFACT_DIR}/{path}", text)
        generation = _files_generation(args.host, files_on_host)
        write_files = generation.apply(
            lambda g: render_files_step(project, args.project_dir, files_on_host, generation=g)
        )
        first_write = generation.apply(
            lambda g: render_files_step(
                project, args.project_dir, files_on_host, create=True, generation=g
            )
        )
        # Deleted last on `pulumi destroy` (every service step depends on it).
        down = generation.apply(lambda g: render_down_step(project, args.project_dir, g))
        if args.host.is_local:
            publish(f"{ARTIFACT_DIR}/deploy/files.sh", write_files, 0o755)
            publish(f"{ARTIFACT_DIR}/deploy/files-create.sh", first_write, 0o755)
            publish(f"{ARTIFACT_DIR}/deploy/down.sh", down, 0o755)
        files = run_step(
            args.host,
            f"{name}-files",
            first_write,
            update=write_files,
            delete=down,
            starts_nothing=True,
            parent=self,
        )
        pull_script = render_pull_step(project)
        if args.host.is_local:
            publish(f"{ARTIFACT_DIR}/deploy/pull.sh", pull_script, 0o755)
        pull = run_step(
            args.host,
            f"{name}-pull",
            pull_script,
            triggers=[refs_hash(image_refs(project))],
            starts_nothing=True,
            parent=self,
        )

        self.services = _deploy_services(name, args, project, [files, pull], value, child)

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
        self.register_outputs(
            {
                "appUrl": self.app_url,
                "adminPassword": self.admin_password,
                "grafanaPassword": self.grafana_password,
                "backupHealthUrl": self.backup_health_url,
                "metricsUrl": self.metrics_url,
            }
        )


def _deploy_services(
    name: str,
    args: ComposeProjectArgs,
    project: Project,
    host_steps: Sequence[pulumi.Resource],
    value: Callable[[Secret], pulumi.Output[str]],
    opts: pulumi.ResourceOptions,
) -> dict[str, ServiceDeployment]:
    """One deploy step per service, in dependency order."""
    services: dict[str, ServiceDeployment] = {}
    for service in project.in_dependency_order():
        env_file: pulumi.Output[str] | None = None
        if service.secret_env:
            env_file = _env_file(service, value)
            publish(f"{ARTIFACT_DIR}/{env_file_path(service)}", env_file, 0o600)
        # Only what the service needs: its files, its image, and the
        # services compose starts it after. Services that do not need each
        # other deploy side by side (deploy.sh.j2 serialises the moment
        # compose creates the project's networks). An app or a migrating job
        # takes a pre-update snapshot first: it waits for the backup tools too.
        snapshots = args.backup_tools is not None and snapshots_first(service, project)
        after = [
            *host_steps,
            *((args.backup_tools or ()) if snapshots else ()),
            *(services[d].step for d in sorted(service.depends_on)),
        ]
        jobs = sorted(d for d, c in service.depends_on.items() if c is Condition.COMPLETED)
        services[service.name] = ServiceDeployment(
            f"{name}-{service.name}",
            ServiceDeploymentArgs(
                args.host,
                service,
                project,
                args.project_dir,
                env_file,
                after,
                snapshots,
                reruns_with=[t for job in jobs for t in services[job].triggers],
            ),
            opts=opts,
        )
    return services


def _renamed_from(old_type: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """The type token this component was deployed under before, as an alias.

    Deployed stacks know it by its old URN: the alias makes the engine move it
    (and, by the same rule, every child under it) instead of replacing it.
    """
    alias = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old_type)])
    return pulumi.ResourceOptions.merge(opts, alias)


def _files_generation(host: Host, files: Mapping[str, str]) -> pulumi.Output[str]:
    """Which files step last wrote the project: its host, connection and files.

    The files step writes it on the host; its delete (`down`) stops the project
    only while the host still holds its own generation. A step replaced for a
    new server, a new connection or new files runs its successor's create
    first, and the old delete, run last, then finds another generation and
    leaves the project running.
    """
    content = "".join(f"{path}\0{text}\0" for path, text in sorted(files.items()))
    where: list[pulumi.Input[str]] = ["local"]
    if host.connection is not None:
        where = [host.identity or "", host.connection.host, host.connection.user or ""]

    def digest(parts: list[str]) -> str:
        text = "\0".join([*parts, content])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    return pulumi.Output.all(*where).apply(digest)


def _env_file(
    service: Service, value: Callable[[Secret], pulumi.Output[str]]
) -> pulumi.Output[str]:
    names = sorted(service.secret_env)
    secrets = [service.secret_env[n] for n in names]
    values = pulumi.Output.all(*(value(s).apply(s.render) for s in secrets))

    def render(resolved: list[str]) -> str:
        return render_env_file(dict(zip(names, resolved, strict=True)))

    return pulumi.Output.secret(values.apply(render))


def _secrets(project: Project) -> list[Secret]:
    seen: dict[tuple[str, str], Secret] = {}
    for service in project.services:
        for secret in service.secret_env.values():
            seen.setdefault((secret.source, secret.key), secret)
    return [seen[k] for k in sorted(seen)]
