"""The dependency graph's critical path, from nothing to a serving app.

    .venv/bin/python -m bench.critical_path build/prod/resources.json [--durations F.yaml]

Reads a stack's resources.json (`python -m tools.synth`) and prints:
- the longest chain of remote steps (`command:remote:Command` and
  `command:local:Command` resources) and how many of them come after the
  cloud-init wait: what runs one after another on the host;
- the cloud resources (DNS, firewall, keys, addresses) that wait on a step on
  the host, which they never should;
- given per-step durations (a YAML or JSON file of measured seconds), the time
  from `pulumi up` to a serving app, with the path that sets it.

The model: the engine starts a resource once every resource it depends on is
done (Pulumi runs independent resources in parallel, unbounded by default) and
each resource takes its figure from the durations file. A deploy step of a
service takes the service's `present` figure when a pull step runs before it
(its images are on the host by then) or when a service step before it ran the
same image; otherwise `absent`, or `present` plus its image's figure under
`pulls` (it pulls its own image; the image comes from compose/compose.yaml
next to resources.json). The app serves once every service step is done and
the proxy holds a certificate: `certificate` seconds after both the proxy step
and the app's A and AAAA records are done (none on the local stack).

The durations file (seconds; any key may be left out; `--durations` repeated
merges files, later ones win):

    engine: 4          # from `pulumi up` to the first resource operation
    cloud: 2           # any cloud API resource without its own figure
    step: 2            # any remote step without its own figure
    certificate: 10    # ACME issuance once DNS points at the running proxy
    resources:         # by resource name
      server-server: 30
      server-cloud-init: 100
    services:          # deploy steps, by service: images present / absent
      db: {present: 6, absent: 25}
    pulls:             # each image alone into an empty engine (bench.pull)
      postgres:17.5: 19
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

STEP_TYPES = frozenset({"command:remote:Command", "command:local:Command"})
SERVICE_TYPE = "mailstack:services:ServiceDeployment"
STACK_TYPE = "mailstack:services:ComposeProject"
DNS_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
WAIT_SUFFIX = "-cloud-init"
PULL_SUFFIX = "-pull"


@dataclass(frozen=True)
class Resource:
    key: str
    """`type::name`: names alone are not unique (a DKIM key and its record)."""
    type: str
    name: str
    parent: str
    deps: tuple[str, ...]
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_step(self) -> bool:
        return self.type in STEP_TYPES

    @property
    def is_component(self) -> bool:
        """Components do no work of their own (no provider behind their type)."""
        return self.type.startswith(("mailstack:", "pulumi:"))


@dataclass
class Graph:
    resources: dict[str, Resource]
    images: Mapping[str, str] = field(default_factory=dict)
    """Each service's image, from the compose file next to resources.json."""

    def __post_init__(self) -> None:
        self._order = self._topological()

    @classmethod
    def load(cls, path: Path) -> Graph:
        compose = path.parent / "compose" / "compose.yaml"
        images = {}
        if compose.exists():
            services = yaml.safe_load(compose.read_text())["services"]
            images = {name: str(s["image"]) for name, s in services.items()}
        return cls.of(json.loads(path.read_text()), images)

    @classmethod
    def of(cls, entries: list[dict[str, Any]], images: Mapping[str, str] | None = None) -> Graph:
        """From resources.json's entries (`tools.synth.resource_entry`)."""
        by_name: dict[str, list[str]] = {}
        for e in entries:
            by_name.setdefault(e["name"], []).append(f"{e['type']}::{e['name']}")
        children: dict[str, list[str]] = {}
        for e in entries:
            children.setdefault(e["parent"], []).append(e["name"])

        def expand(name: str, own: str) -> list[str]:
            # A dependency on a component waits for everything under it.
            keys = [k for k in by_name.get(name, []) if k != own]
            out: list[str] = []
            for key in keys:
                if key.startswith(("mailstack:", "pulumi:")):
                    for child in children.get(name, []):
                        out += expand(child, own)
                else:
                    out.append(key)
            return out

        resources = {}
        for e in entries:
            key = f"{e['type']}::{e['name']}"
            deps = sorted({d for name in e["dependencies"] for d in expand(name, key)})
            resources[key] = Resource(
                key, e["type"], e["name"], e["parent"], tuple(deps), e.get("inputs", {})
            )
        return cls(resources, dict(images or {}))

    def _topological(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(key: str) -> None:
            if state.get(key) == 2:
                return
            if state.get(key) == 1:
                raise ValueError(f"dependency cycle through {key}")
            state[key] = 1
            for dep in self.resources[key].deps:
                visit(dep)
            state[key] = 2
            order.append(key)

        for key in sorted(self.resources):
            visit(key)
        return order

    def by_name(self, name: str) -> Resource | None:
        matches = [r for r in self.resources.values() if r.name == name and not r.is_component]
        return matches[0] if len(matches) == 1 else None

    def service_of(self, r: Resource) -> str | None:
        """The compose service a deploy step deploys, from its parent components."""
        parents = {x.name: x for x in self.resources.values() if x.is_component}
        service = parents.get(r.parent)
        if not r.is_step or service is None or service.type != SERVICE_TYPE:
            return None
        stack = parents.get(service.parent)
        prefix = f"{stack.name}-" if stack is not None else ""
        return service.name.removeprefix(prefix)

    def upstream(self, key: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.resources[key].deps)
        while todo:
            k = todo.pop()
            if k not in seen:
                seen.add(k)
                todo.extend(self.resources[k].deps)
        return seen

    def longest(
        self, weight: Callable[[Resource], float], start: float = 0.0
    ) -> dict[str, tuple[float, str | None]]:
        """Finish time of every resource and the dependency that set its start."""
        done: dict[str, tuple[float, str | None]] = {}
        for key in self._order:
            r = self.resources[key]
            begin, via = start, None
            for dep in r.deps:
                if done[dep][0] > begin or (done[dep][0] == begin and via is None):
                    begin, via = done[dep][0], dep
            done[key] = (begin + weight(r), via)
        return done

    def path_to(self, done: Mapping[str, tuple[float, str | None]], key: str) -> list[str]:
        path = [key]
        while (via := done[path[-1]][1]) is not None:
            path.append(via)
        return path[::-1]


def sequential_steps(graph: Graph) -> tuple[list[str], int]:
    """The longest chain of steps on the host, and how many come after the cloud-init wait."""
    done = graph.longest(lambda r: 1.0 if r.is_step else 0.0)
    if not done:
        return [], 0
    end = max(done, key=lambda k: (done[k][0], k))
    chain = [k for k in graph.path_to(done, end) if graph.resources[k].is_step]
    names = [graph.resources[k].name for k in chain]
    waits = [i for i, n in enumerate(names) if n.endswith(WAIT_SUFFIX)]
    after = len(names) - (waits[0] + 1) if waits else len(names)
    return names, after


def has_wait(graph: Graph) -> bool:
    return any(r.is_step and r.name.endswith(WAIT_SUFFIX) for r in graph.resources.values())


def cloud_waiting_on_the_host(graph: Graph) -> list[str]:
    """Cloud resources that wait for a step on the host (they never need to)."""
    out = []
    for key, r in graph.resources.items():
        if r.is_step or r.is_component:
            continue
        if any(graph.resources[u].is_step for u in graph.upstream(key)):
            out.append(r.name)
    return sorted(out)


@dataclass(frozen=True)
class Durations:
    engine: float = 0.0
    cloud: float = 0.0
    step: float = 0.0
    certificate: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)
    services: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    pulls: Mapping[str, float] = field(default_factory=dict)
    """Seconds to pull each image alone into an empty engine (`bench.pull`)."""

    @classmethod
    def load(cls, *paths: Path) -> Durations:
        """One file, or several merged (later files win, key by key)."""
        data: dict[str, Any] = {}
        for path in paths:
            more = yaml.safe_load(path.read_text()) or {}
            unknown = set(more) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
            for key, value in more.items():
                if isinstance(value, dict):
                    merged = dict(data.get(key, {}))
                    for k, v in value.items():
                        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) else v
                    data[key] = merged
                else:
                    data[key] = value
        return cls(
            engine=float(data.get("engine", 0)),
            cloud=float(data.get("cloud", 0)),
            step=float(data.get("step", 0)),
            certificate=float(data.get("certificate", 0)),
            resources={k: float(v) for k, v in (data.get("resources") or {}).items()},
            services={
                name: {k: float(v) for k, v in figures.items()}
                for name, figures in (data.get("services") or {}).items()
            },
            pulls={k: float(v) for k, v in (data.get("pulls") or {}).items()},
        )


@dataclass(frozen=True)
class Model:
    serving: float
    """Seconds from `pulumi up` until the app serves."""
    finished: float
    """Seconds until the last resource is done."""
    path: list[tuple[str, float, float]]
    """The critical path to serving: (resource, start, finish)."""
    missing: list[str]
    """Services without a figure (modelled with `step`)."""
    booted: float | None = None
    """When the cloud-init wait is done (None: no boot, the local stack)."""


def model(graph: Graph, durations: Durations) -> Model:
    pulled = {
        key
        for key, r in graph.resources.items()
        if any(graph.resources[u].name.endswith(PULL_SUFFIX) for u in graph.upstream(key))
    }
    missing: set[str] = set()

    def seconds(r: Resource) -> float:
        if r.is_component:
            return 0.0
        if r.name in durations.resources:
            return durations.resources[r.name]
        service = graph.service_of(r)
        if service is not None:
            figures = durations.services.get(service, {})
            if r.key not in pulled and "absent" in figures:
                return figures["absent"]
            if "present" in figures:
                if r.key in pulled or image_pulled_before(r, service):
                    return figures["present"]
                image = graph.images.get(service, "")
                if image in durations.pulls:
                    return figures["present"] + durations.pulls[image]
            missing.add(f"{service} ({'present' if r.key in pulled else 'absent'})")
        return durations.step if r.is_step else durations.cloud

    def image_pulled_before(r: Resource, service: str) -> bool:
        """A service step before this one ran the same image (so it is on the host)."""
        image = graph.images.get(service)
        return image is not None and any(
            graph.images.get(graph.service_of(graph.resources[u]) or "") == image
            for u in graph.upstream(r.key)
        )

    done = graph.longest(seconds, start=durations.engine)
    service_steps = [k for k, r in graph.resources.items() if graph.service_of(r) is not None]
    proxy = [k for k in service_steps if graph.service_of(graph.resources[k]) == "proxy"]
    addresses = [
        k
        for k, r in graph.resources.items()
        if r.type == DNS_TYPE and r.inputs.get("type") in ("A", "AAAA")
    ]
    ends = [(done[k][0], k, 0.0) for k in service_steps]
    if addresses and proxy:
        cert_from = max(proxy + addresses, key=lambda k: done[k][0])
        ends.append((done[cert_from][0] + durations.certificate, cert_from, durations.certificate))
    if not ends:
        raise ValueError("no service deploy steps in this graph")
    serving, end, extra = max(ends)
    path = []
    for key in graph.path_to(done, end):
        r = graph.resources[key]
        if r.is_component:
            continue
        finish = done[key][0]
        path.append((r.name, finish - seconds(r), finish))
    if extra:
        path.append(("(certificate)", serving - extra, serving))
    finished = max(f for f, _ in done.values())
    waits = [
        done[k][0] for k, r in graph.resources.items() if r.is_step and r.name.endswith(WAIT_SUFFIX)
    ]
    return Model(serving, finished, path, sorted(missing), max(waits) if waits else None)


def report(graph: Graph, durations: Durations | None, target: float | None) -> list[str]:
    steps, after_wait = sequential_steps(graph)
    depth = graph.longest(lambda r: 0.0 if r.is_component else 1.0)
    lines = [
        f"resources: {sum(not r.is_component for r in graph.resources.values())}, "
        f"longest chain: {int(max(f for f, _ in depth.values()))} resources",
        f"sequential steps on the host: {len(steps)} "
        + (f"({after_wait} after the cloud-init wait)" if has_wait(graph) else "(no boot)"),
        "  " + " -> ".join(steps),
    ]
    waiting = cloud_waiting_on_the_host(graph)
    lines.append(
        "cloud resources waiting on a host step: " + (", ".join(waiting) if waiting else "none")
    )
    if durations is not None:
        m = model(graph, durations)
        verdict = ""
        if target is not None:
            verdict = f" ({'within' if m.serving <= target else 'over'} the {target:g} s target)"
        lines.append(
            f"modelled: serving after {m.serving:.0f} s{verdict}, all done {m.finished:.0f} s"
        )
        if m.booted is not None:
            lines.append(f"  of which after the cloud-init wait: {m.serving - m.booted:.0f} s")
        for name, start, finish in m.path:
            lines.append(f"  {start:6.1f} -> {finish:6.1f}  {name}")
        if m.missing:
            lines.append("no figure for: " + ", ".join(m.missing))
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("resources", type=Path, help="a stack's resources.json")
    parser.add_argument(
        "--durations",
        type=Path,
        action="append",
        help="measured seconds (YAML or JSON); repeat to merge several, later ones win",
    )
    parser.add_argument("--target", type=float, help="seconds the app must serve within")
    args = parser.parse_args(argv)
    durations = Durations.load(*args.durations) if args.durations else None
    print("\n".join(report(Graph.load(args.resources), durations, args.target)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
