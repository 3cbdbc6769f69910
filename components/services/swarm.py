"""Render a `Project` to a Docker Swarm stack file, placed by node roles.

The same typed model as compose.yaml (components/services/compose.py), for
`docker stack deploy` across the nodes of a multi-server stack
(docs/scale-out.md). Pure: the output is checked by `docker stack config`,
`docker compose config` and the compose-spec schema.

Placement: every node carries one label per role it holds
(`mailstack.role.<role>=true`, set when it joins), and each service is
constrained to the role that runs it: the database and its volume on the one
db node, the app replicated over the app nodes, the proxy on every proxy
(edge) node, the exporter on the monitoring node. The app's replicas spread
over `NODE_LABEL`, one per app node while every app node is up.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from common import encode
from common.topology import NODE_LABEL
from common.topology import Role as NodeRole

# `_volume`: the same bind onto the data volume as compose.yaml, on the db node.
from components.services.compose import _volume, service_dict
from components.services.model import Mount, Network, Project, Role, Service, Update

PLACEMENT: dict[Role, NodeRole] = {
    Role.PROXY: NodeRole.PROXY,
    Role.APP: NodeRole.APP,
    Role.WORKER: NodeRole.APP,
    Role.MAIL_SINK: NodeRole.APP,
    Role.JOB: NodeRole.APP,
    # Stateful services live beside the data volume, on the one db node.
    Role.DATABASE: NodeRole.DB,
    Role.CACHE: NodeRole.DB,
    Role.STORAGE: NodeRole.DB,
    Role.METRICS: NodeRole.MONITORING,
    Role.MONITORING: NodeRole.MONITORING,
}

# Compose keys `docker stack deploy` ignores or refuses; their Swarm
# equivalents are under `deploy:` (limits, restart) or do not exist
# (depends_on: Swarm starts everything at once and restarts until healthy).
_NOT_IN_SWARM = (
    "pull_policy",
    "restart",
    "depends_on",
    "mem_limit",
    "memswap_limit",
    "cpus",
    "pids_limit",
    "tmpfs",
    "ports",
    # Swarm ignores it: the nodes' daemon.json sets `no-new-privileges` for every
    # container instead (docs/scale-out.md).
    "security_opt",
)

NETWORKS: dict[Network, dict[str, Any]] = {
    Network.EDGE: {"driver": "overlay"},
    Network.INTERNAL: {"driver": "overlay", "internal": True},
}

STACK_FILE_VERSION = "3.9"
MONITOR = "60s"
"""How long Swarm watches each updated task (healthchecks included) before the next."""


@dataclass(frozen=True)
class Topology:
    """How many nodes hold each role (from the stack's node pools)."""

    app_nodes: int

    def __post_init__(self) -> None:
        if self.app_nodes < 1:
            raise ValueError("a Swarm stack needs at least one app node")


def constraint(role: NodeRole) -> str:
    return f"node.labels.mailstack.role.{role.value} == true"


def replicas(service: Service, topology: Topology) -> int:
    """A replicated service's task count: the app's over every app node, one of the rest."""
    return topology.app_nodes if service.role is Role.APP else 1


def _update(service: Service) -> dict[str, Any]:
    order = "start-first" if service.update is Update.START_FIRST else "stop-first"
    return {
        "parallelism": 1,
        "delay": "5s",
        "order": order,
        "failure_action": "rollback",
        "monitor": MONITOR,
        "max_failure_ratio": 0,
    }


def _deploy(service: Service, topology: Topology) -> dict[str, Any]:
    role = PLACEMENT[service.role]
    placement: dict[str, Any] = {"constraints": [constraint(role)]}
    deploy: dict[str, Any]
    if service.role is Role.PROXY:
        # One proxy per edge node, publishing on the node itself (mode host):
        # the load balancer targets the nodes and the client address survives.
        deploy = {"mode": "global"}
    else:
        count = replicas(service, topology)
        deploy = {"mode": "replicated", "replicas": count}
        if count > 1:
            placement["preferences"] = [{"spread": f"node.labels.{NODE_LABEL}"}]
    # Each task's own address in the service's DNS name, as compose gives each
    # container's: the proxy's upstream policy (Caddyfile.j2) retries a failed
    # dial on another task, which is what keeps a rolling update and a lost node
    # from failing requests. A virtual IP would hide the tasks behind IPVS.
    deploy["endpoint_mode"] = "dnsrr"
    deploy["placement"] = placement
    limits = service.limits
    deploy["resources"] = {
        "limits": {"cpus": str(limits.cpus), "memory": f"{limits.memory_mb}M", "pids": limits.pids}
    }
    if service.role is Role.JOB:
        deploy["restart_policy"] = {"condition": "on-failure", "max_attempts": 3}
    else:
        deploy["restart_policy"] = {"condition": "any", "delay": "5s", "window": "30s"}
        deploy["update_config"] = _update(service)
        deploy["rollback_config"] = {**_update(service), "failure_action": "pause"}
    deploy["labels"] = {"org.mailstack.role": service.role.value}
    return deploy


def _shipped(mount: Mount, files: Mapping[str, str]) -> str:
    """The rendered project file a mount binds (shipped as a config), else ''.

    Other project paths (MailWizz's uploaded source tree) stay binds: they must
    exist on every node that runs the service (docs/scale-out.md)."""
    rel = mount.source.removeprefix("./")
    return rel if mount.source.startswith("./") and rel in files else ""


def config_name(rel: str, text: str) -> str:
    """A Swarm config's name: configs are immutable, so a new content is a new name."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{re.sub(r'[^a-z0-9-]', '-', rel.lower())}-{digest}"


def _configs(service: Service, files: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Config name -> (project-relative file, target) for each file the service mounts."""
    return {
        config_name(rel, files[rel]): (rel, m.target)
        for m in service.mounts
        if (rel := _shipped(m, files))
    }


def swarm_service(service: Service, topology: Topology, files: Mapping[str, str]) -> dict[str, Any]:
    out = {k: v for k, v in service_dict(service).items() if k not in _NOT_IN_SWARM}
    # A bind of a project file would need the file on every node: Swarm ships
    # it as a config instead (read-only, mode 0444).
    out.pop("volumes", None)
    volumes: list[Any] = [m.render() for m in service.mounts if not _shipped(m, files)]
    configs = _configs(service, files)
    if configs:
        out["configs"] = [
            {"source": name, "target": target, "mode": 0o444}
            for name, (_, target) in configs.items()
        ]
    # Swarm has no `tmpfs:` key: the long mount syntax carries it.
    volumes += [{"type": "tmpfs", "target": path} for path in service.tmpfs]
    if volumes:
        out["volumes"] = encode.compose_literals(volumes)
    if service.ports:
        out["ports"] = [
            {"target": p.container, "published": p.host, "protocol": "tcp", "mode": "host"}
            for p in service.ports
        ]
    out["deploy"] = encode.compose_literals(_deploy(service, topology))
    return out


def swarm_dict(project: Project, topology: Topology, files: Mapping[str, str]) -> dict[str, Any]:
    """`files`: the project's rendered files by relative path (`Rendered.files`)."""
    configs = {
        name: {"file": f"./{rel}"}
        for service in project.services
        for name, (rel, _) in _configs(service, files).items()
    }
    return {
        # Required by the stack loader of Debian's docker.io 20.10 (schema v3.9:
        # "unsupported Compose file version: 1.0" without it); newer CLIs ignore it.
        "version": STACK_FILE_VERSION,
        "services": {s.name: swarm_service(s, topology, files) for s in project.services},
        "networks": {n.value: NETWORKS[n] for n in Network},
        "volumes": {v: _volume(v, project) for v in project.volumes},
        "configs": dict(sorted(configs.items())),
    }


def render_swarm(project: Project, topology: Topology, files: Mapping[str, str]) -> str:
    header = (
        f"# {project.name}: Swarm stack file rendered by mailstack (components/services);\n"
        f"# do not edit. Deploy: docker stack deploy -c stack.yaml {project.name}\n"
    )
    return header + yaml.safe_dump(swarm_dict(project, topology, files), sort_keys=False, width=100)
