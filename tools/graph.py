"""The dependency graph synth draws: one cluster per component, no redundant edges.

Nodes are the cloud resources (custom resources); each sits in the cluster of
the component that is its parent, clusters nested as the components are. A
dependency on a component means a dependency on every resource inside it.
An edge a -> c is dropped when c is reachable from a through other edges
(transitive reduction; written here because networkx is not a dependency,
and checked against graphviz's `tred` in tests/unit/test_graph.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tools.harness import Registration

Edges = dict[str, set[str]]


@dataclass(frozen=True)
class Graph:
    nodes: dict[str, Registration]
    """Cloud resources by URN."""
    clusters: dict[str, Registration]
    """Components by URN."""
    edges: Edges
    """Dependency -> dependants, transitively reduced."""

    def cluster_of(self, urn: str) -> str:
        """The URN of the component a node or cluster sits in ("" at the top)."""
        parent = (self.nodes.get(urn) or self.clusters[urn]).parent
        return parent if parent in self.clusters else ""


def transitive_reduction(edges: Mapping[str, Iterable[str]]) -> Edges:
    """Keep u -> v only when no other path leads from u to v (edges form a DAG)."""
    succ = {u: set(vs) for u, vs in edges.items()}
    reach: dict[str, set[str]] = {}

    def reachable(u: str) -> set[str]:
        if u not in reach:
            found: set[str] = set()
            for v in succ.get(u, ()):
                found |= {v} | reachable(v)
            reach[u] = found
        return reach[u]

    return {
        u: {v for v in vs if not any(v in reachable(w) for w in vs - {v})} for u, vs in succ.items()
    }


def build(registrations: list[Registration], reduce: bool = True) -> Graph:
    by_urn = {r.urn: r for r in registrations}
    nodes = {u: r for u, r in by_urn.items() if r.custom}
    clusters = {u: r for u, r in by_urn.items() if not r.custom}
    inside: dict[str, set[str]] = {u: set() for u in clusters}
    for urn in nodes:
        parent = by_urn[urn].parent
        while parent in clusters:
            inside[parent].add(urn)
            parent = by_urn[parent].parent
    edges: Edges = {u: set() for u in nodes}
    for urn, reg in nodes.items():
        for dep in reg.dependencies:
            if dep == reg.parent:
                continue
            for source in inside.get(dep, {dep} if dep in nodes else set()):
                if source != urn:
                    edges[source].add(urn)
    return Graph(nodes, clusters, transitive_reduction(edges) if reduce else edges)


def _label(reg: Registration) -> str:
    return f"{reg.name}<br/><small>{reg.type}</small>"


def mermaid(graph: Graph) -> str:
    ids = {u: f"r{i}" for i, u in enumerate(sorted(graph.nodes))}
    ids.update({u: f"c{i}" for i, u in enumerate(sorted(graph.clusters))})
    lines = ["flowchart LR"]

    def emit(cluster: str, indent: str) -> None:
        for urn in sorted(graph.clusters):
            if graph.cluster_of(urn) == cluster:
                reg = graph.clusters[urn]
                lines.append(f'{indent}subgraph {ids[urn]}["{reg.name} ({reg.type})"]')
                emit(urn, indent + "  ")
                lines.append(f"{indent}end")
        for urn in sorted(graph.nodes):
            if graph.cluster_of(urn) == cluster:
                lines.append(f'{indent}{ids[urn]}["{_label(graph.nodes[urn])}"]')

    emit("", "  ")
    for source in sorted(graph.edges):
        for target in sorted(graph.edges[source]):
            lines.append(f"  {ids[source]} --> {ids[target]}")
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    ids = {u: f"r{i}" for i, u in enumerate(sorted(graph.nodes))}
    ids.update({u: f"cluster_{i}" for i, u in enumerate(sorted(graph.clusters))})
    lines = [
        "digraph mailstack {",
        "  rankdir=LR;",
        "  node [shape=box, fontsize=10];",
        "  graph [fontsize=11, style=rounded];",
    ]

    def emit(cluster: str, indent: str) -> None:
        for urn in sorted(graph.clusters):
            if graph.cluster_of(urn) == cluster:
                reg = graph.clusters[urn]
                lines.append(f'{indent}subgraph {ids[urn]} {{ label="{reg.name}\\n{reg.type}";')
                emit(urn, indent + "  ")
                lines.append(f"{indent}}}")
        for urn in sorted(graph.nodes):
            if graph.cluster_of(urn) == cluster:
                reg = graph.nodes[urn]
                lines.append(f'{indent}{ids[urn]} [label="{reg.name}\\n{reg.type}"];')

    emit("", "  ")
    for source in sorted(graph.edges):
        for target in sorted(graph.edges[source]):
            lines.append(f"  {ids[source]} -> {ids[target]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
