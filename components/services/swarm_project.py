"""A host's services as one Swarm stack: the same project, passwords and env files as
`ComposeProject`, rendered for `docker stack deploy` (components/swarm_cluster.py
runs it). `mailstack:services:SwarmProject`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi
import pulumi_random as random

from common import encode
from common.artifacts import publish
from common.topology import Role as NodeRole
from components.services.compose import env_file_path

# The same secrets as the compose deploy (one password per random secret).
from components.services.deploy import ComposeProjectArgs, _secrets
from components.services.model import Role, Secret, Service
from components.services.monitoring import GRAFANA_PASSWORD
from components.services.project import build_project
from components.services.steps import _numeric_user
from components.services.swarm import PLACEMENT, Topology, render_swarm
from components.swarm_cluster import StackFiles

STACK_FILE = "stack.yaml"
ARTIFACT_DIR = "swarm"


class SwarmProject(pulumi.ComponentResource):
    stack: StackFiles
    app_url: pulumi.Output[str]
    admin_password: pulumi.Output[str] | None
    grafana_password: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: ComposeProjectArgs,
        topology: Topology,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mailstack:services:SwarmProject", name, None, opts)
        rendered = build_project(args.stack)
        project = rendered.project
        passwords = {
            secret.key: random.RandomPassword(
                f"{name}-{secret.key}-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for secret in _secrets(project)
            if secret.source == "random"
        }

        def value(secret: Secret) -> pulumi.Output[str]:
            if secret.source == "random":
                return pulumi.Output.secret(passwords[secret.key].result)
            return pulumi.Output.secret(args.config_secrets[secret.key])

        files = {
            **rendered.files,
            STACK_FILE: render_swarm(project, topology, rendered.files),
        }
        for path, text in files.items():
            publish(f"{ARTIFACT_DIR}/{path}", text)
        env_files = {
            env_file_path(s): _env_file(s, value) for s in project.services if s.secret_env
        }
        volume_dirs: dict[NodeRole, dict[str, str]] = {}
        if project.volume_root:
            for service in project.services:
                where = volume_dirs.setdefault(PLACEMENT[service.role], {})
                for volume in service.volumes:
                    where[f"{project.volume_root}/{volume}"] = _numeric_user(service)
        self.stack = StackFiles(
            project=project.name,
            directory=args.host.layout.stack_dir,
            stack_file=STACK_FILE,
            files=files,
            env_files=env_files,
            jobs=tuple(s.name for s in project.services if s.role is Role.JOB),
            volume_dirs=_sorted(volume_dirs),
        )
        self.app_url = pulumi.Output.from_input(args.stack.app.app_url)
        self.admin_password = (
            value(rendered.admin_password) if rendered.admin_password is not None else None
        )
        self.grafana_password = (
            value(GRAFANA_PASSWORD) if "grafana" in {s.name for s in project.services} else None
        )
        self.register_outputs({"appUrl": self.app_url})


def _env_file(
    service: Service, value: Callable[[Secret], pulumi.Output[str]]
) -> pulumi.Output[str]:
    """The service's env file as `docker stack deploy` reads it (not compose's format:
    the CLI keeps quotes as part of the value)."""
    names = sorted(service.secret_env)
    values = pulumi.Output.all(*(value(service.secret_env[n]) for n in names))
    return pulumi.Output.secret(
        values.apply(
            lambda resolved: "".join(
                f"{encode.cli_env_file_line(n, v)}\n" for n, v in zip(names, resolved, strict=True)
            )
        )
    )


def _sorted(dirs: Mapping[NodeRole, Mapping[str, str]]) -> dict[NodeRole, dict[str, str]]:
    return {role: dict(sorted(d.items())) for role, d in sorted(dirs.items()) if d}
