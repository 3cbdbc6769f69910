"""synth's dependency graph: clusters per component, transitive edges reduced."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tools import graph
from tools.harness import Run


def test_a_shortcut_edge_is_dropped_and_a_needed_one_kept() -> None:
    edges = {"a": {"b", "c", "d"}, "b": {"c"}, "c": set(), "d": set()}
    assert graph.transitive_reduction(edges) == {
        "a": {"b", "d"},
        "b": {"c"},
        "c": set(),
        "d": set(),
    }


def _edge_set(text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^\s*(r\d+) -> (r\d+);", text, flags=re.MULTILINE))


@pytest.mark.skipif(not shutil.which("tred"), reason="needs graphviz's tred")
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_reduction_matches_graphviz_tred(stack_runs: dict[str, Run], stack: str) -> None:
    raw = graph.dot(graph.build(stack_runs[stack].registrations, reduce=False))
    tred = subprocess.run(["tred"], input=raw, capture_output=True, text=True, check=True).stdout
    ours = graph.dot(graph.build(stack_runs[stack].registrations))
    assert _edge_set(ours) == _edge_set(tred)
    assert len(_edge_set(ours)) < len(_edge_set(raw))


def test_every_component_is_one_cluster_holding_its_resources(stack_runs: dict[str, Run]) -> None:
    run = stack_runs["prod"]
    text = graph.mermaid(graph.build(run.registrations))
    components = [r for r in run.registrations if not r.custom]
    resources = [r for r in run.registrations if r.custom]
    assert len(components) >= 3
    for component in components:
        assert text.count(f'["{component.name} ({component.type})"]') == 1
    for resource in resources:
        assert text.count(f'["{resource.name}<br/><small>{resource.type}</small>"]') == 1
    assert text.count("subgraph ") == text.count("\n  end") + text.count("\n    end")
    # The server's own resources sit inside the server's cluster.
    server = text[text.index('["server (') :]
    assert '["server-server<br/>' in server[: server.index("\n  end")]


@pytest.mark.skipif(not shutil.which("dot"), reason="needs graphviz")
def test_graphviz_draws_it(stack_runs: dict[str, Run]) -> None:
    source = graph.dot(graph.build(stack_runs["prod"].registrations))
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('class="cluster"') == source.count("subgraph cluster_")
