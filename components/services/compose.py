"""Render a `Project` to one compose.yaml, and services' secrets to env files.

Pure functions: no Pulumi inside, so the output is tested directly and checked
by `docker compose config` and the compose-spec schema. Secret values never
reach compose.yaml: a service lists its secret variable names under
`x-secret-env` for review, and their values go to `env/<service>.env`
(mode 0600) which compose reads through `env_file`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from components.services.model import Network, Project, Service

LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}


def literal(value: str) -> str:
    """A value compose passes on as written: `$` would start an interpolation."""
    return value.replace("$", "$$")


def env_file_path(service: Service) -> str:
    return f"env/{service.name}.env"


def service_dict(service: Service) -> dict[str, Any]:
    """One service's compose definition (part of what its deploy trigger hashes)."""
    out: dict[str, Any] = {"image": service.image.ref, "pull_policy": "missing"}
    if service.entrypoint:
        out["entrypoint"] = list(service.entrypoint)
    if service.command:
        out["command"] = list(service.command)
    if service.user:
        out["user"] = service.user
    out["restart"] = service.restart
    if service.environment:
        out["environment"] = dict(sorted(service.environment.items()))
    if service.secret_env:
        out["env_file"] = [env_file_path(service)]
        out["x-secret-env"] = sorted(service.secret_env)
    if service.ports:
        out["ports"] = [p.render() for p in service.ports]
    if service.mounts:
        out["volumes"] = [m.render() for m in service.mounts]
    if service.tmpfs:
        out["tmpfs"] = list(service.tmpfs)
    out["read_only"] = service.read_only
    out["networks"] = [n.value for n in service.networks]
    if service.depends_on:
        out["depends_on"] = {
            name: {"condition": cond.value} for name, cond in sorted(service.depends_on.items())
        }
    if service.healthcheck:
        hc = service.healthcheck
        out["healthcheck"] = {
            "test": list(hc.test),
            "interval": hc.interval,
            "timeout": hc.timeout,
            "retries": hc.retries,
            "start_period": hc.start_period,
        }
    out["security_opt"] = ["no-new-privileges:true"]
    out["cap_drop"] = ["ALL"]
    if service.cap_add:
        out["cap_add"] = sorted(service.cap_add)
    out["mem_limit"] = f"{service.limits.memory_mb}m"
    out["memswap_limit"] = f"{service.limits.memory_mb}m"
    out["cpus"] = service.limits.cpus
    out["pids_limit"] = service.limits.pids
    out["logging"] = {"driver": "json-file", "options": dict(LOG_OPTIONS)}
    labels = {"org.mailstack.role": service.role.value, **service.labels}
    out["labels"] = dict(sorted(labels.items()))
    return out


def _volume(name: str, project: Project) -> dict[str, Any]:
    if not project.volume_root:
        return {}
    # On servers the data lives on the mounted data volume, not under
    # /var/lib/docker on the server disk that a replacement throws away.
    return {
        "driver": "local",
        "driver_opts": {"type": "none", "o": "bind", "device": f"{project.volume_root}/{name}"},
    }


NETWORKS: dict[Network, dict[str, Any]] = {Network.EDGE: {}, Network.INTERNAL: {"internal": True}}


def compose_dict(project: Project) -> dict[str, Any]:
    return {
        "name": project.name,
        "services": {s.name: service_dict(s) for s in project.services},
        "networks": {n.value: NETWORKS[n] for n in Network},
        "volumes": {v: _volume(v, project) for v in project.volumes},
    }


def render_compose(project: Project) -> str:
    header = (
        f"# {project.name}: rendered by mailstack (components/services); do not edit.\n"
        "# Secrets are in env/<service>.env (mode 0600), never in this file.\n"
    )
    return header + yaml.safe_dump(compose_dict(project), sort_keys=False, width=100)


def service_hash(service: Service, project: Project) -> str:
    """Hash of a service's rendered definition: its deploy step's trigger.

    Includes the top-level definitions of the volumes and networks it uses:
    compose recreates the container when those change (e.g. a volume's bind
    path under `volume_root`), so its step must run again.
    """
    definition = {
        "service": service_dict(service),
        "volumes": {v: _volume(v, project) for v in service.volumes},
        "networks": {n.value: NETWORKS[n] for n in service.networks},
    }
    text = yaml.safe_dump(definition, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def render_env_file(values: Mapping[str, str]) -> str:
    """`KEY='value'` lines; single quotes keep compose from interpolating `$`."""
    lines = []
    for name, value in sorted(values.items()):
        if "'" in value or "\n" in value:
            raise ValueError(f"secret for {name} contains a quote or newline; env files refuse it")
        lines.append(f"{name}='{value}'")
    return "\n".join(lines) + "\n"
