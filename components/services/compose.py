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

from common import encode
from components.services.model import Network, Project, Service

LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}


def env_file_path(service: Service) -> str:
    return f"env/{service.name}.env"


# Keys written even when empty or false; every other key only when it says something.
_ALWAYS = frozenset(
    {"image", "pull_policy", "restart", "read_only", "networks", "security_opt", "cap_drop"}
    | {"mem_limit", "memswap_limit", "cpus", "pids_limit", "logging", "labels"}
)


def service_dict(service: Service) -> dict[str, Any]:
    """One service's compose definition (part of what its deploy trigger hashes)."""
    labels = {"org.mailstack.role": service.role.value, **service.labels}
    out: dict[str, Any] = {
        "image": service.image.ref,
        "pull_policy": "missing",
        "entrypoint": list(service.entrypoint),
        "command": list(service.command),
        "user": service.user,
        "restart": service.restart,
        "environment": dict(sorted(service.environment.items())),
        "env_file": [env_file_path(service)] if service.secret_env else [],
        "x-secret-env": sorted(service.secret_env),
        "ports": [p.render() for p in service.ports],
        "volumes": [m.render() for m in service.mounts],
        "tmpfs": list(service.tmpfs),
        "read_only": service.read_only,
        "networks": [n.value for n in service.networks],
        "depends_on": {
            name: {"condition": cond.value} for name, cond in sorted(service.depends_on.items())
        },
        "healthcheck": _healthcheck(service),
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "cap_add": sorted(service.cap_add),
        "mem_limit": f"{service.limits.memory_mb}m",
        "memswap_limit": f"{service.limits.memory_mb}m",
        "cpus": service.limits.cpus,
        "pids_limit": service.limits.pids,
        "logging": {"driver": "json-file", "options": dict(LOG_OPTIONS)},
        "labels": dict(sorted(labels.items())),
    }
    out = {key: value for key, value in out.items() if key in _ALWAYS or value}
    # Compose interpolates `$` in every string of the file (image, command,
    # environment, labels, ...): the model holds literal values, so every `$`
    # is doubled here and nowhere else.
    result: dict[str, Any] = encode.compose_literals(out)
    return result


def _healthcheck(service: Service) -> dict[str, Any]:
    hc = service.healthcheck
    if hc is None:
        return {}
    return {
        "test": list(hc.test),
        "interval": hc.interval,
        "timeout": hc.timeout,
        "retries": hc.retries,
        "start_period": hc.start_period,
    }


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
    """One `KEY='value'` line per value, quoted so compose reads back exactly the
    value (no `$` interpolation; quotes and line breaks escaped)."""
    return "".join(f"{encode.env_file_line(n, v)}\n" for n, v in sorted(values.items()))
