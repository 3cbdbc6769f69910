"""bench.critical_path on small graphs whose answer is known by hand."""

from __future__ import annotations

from typing import Any

from bench.critical_path import Durations, Graph, cloud_waiting_on_the_host, model, sequential_steps

REMOTE = "command:remote:Command"


def _entry(
    type_: str, name: str, deps: tuple[str, ...] = (), parent: str = "", **inputs: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "name": name,
        "parent": parent,
        "dependencies": list(deps),
        "inputs": inputs,
    }


def _graph(pull: bool) -> Graph:
    wait = ("server-cloud-init",)
    entries = [
        _entry("hcloud:index/server:Server", "server-server"),
        _entry(REMOTE, "server-cloud-init", ("server-server",)),
        _entry(REMOTE, "server-access", wait),
        _entry(REMOTE, "services-files", wait),
        _entry("mailstack:services:ComposeProject", "services"),
        _entry("cloudflare:index/dnsRecord:DnsRecord", "app-a", ("server-ipv4",), type="A"),
        _entry("hcloud:index/primaryIp:PrimaryIp", "server-ipv4"),
    ]
    first = ["server-access", "services-files"]
    if pull:
        entries.append(_entry(REMOTE, "services-pull", wait))
        first.append("services-pull")
    for name, deps in (("db", ()), ("app", ("services-db-deploy",)), ("proxy", ())):
        entries.append(
            _entry("mailstack:services:ServiceDeployment", f"services-{name}", parent="services")
        )
        entries.append(
            _entry(REMOTE, f"services-{name}-deploy", (*first, *deps), parent=f"services-{name}")
        )
    return Graph.of(entries, {"db": "postgres:17", "app": "app:1", "proxy": "caddy:2"})


DURATIONS = Durations(
    engine=1,
    cloud=2,
    step=1,
    certificate=5,
    resources={"server-server": 10, "server-cloud-init": 100, "services-pull": 30},
    services={"db": {"present": 6}, "app": {"present": 4}, "proxy": {"present": 3}},
    pulls={"postgres:17": 20, "app:1": 15, "caddy:2": 8},
)


def test_without_a_pull_step_each_service_pulls_its_own_image() -> None:
    m = model(_graph(pull=False), DURATIONS)
    # engine 1 + server 10 + cloud-init 100 + access 1, then db (6 + 20), app (4 + 15).
    assert m.serving == 1 + 10 + 100 + 1 + 26 + 19
    assert [name for name, _, _ in m.path][-2:] == ["services-db-deploy", "services-app-deploy"]


def test_with_a_pull_step_services_wait_for_it_and_start_with_their_images() -> None:
    m = model(_graph(pull=True), DURATIONS)
    assert m.serving == 1 + 10 + 100 + 30 + 6 + 4
    assert "services-pull" in [name for name, _, _ in m.path]


def test_the_certificate_can_set_the_time() -> None:
    slow_certificate = Durations(**{**DURATIONS.__dict__, "certificate": 60})
    m = model(_graph(pull=True), slow_certificate)
    # proxy done at 1 + 10 + 100 + 30 + 3 = 144, then 60 s for the certificate.
    assert m.serving == 204 and m.path[-1][0] == "(certificate)"


def test_steps_after_the_boot_and_cloud_resources_off_the_host() -> None:
    graph = _graph(pull=True)
    chain, after = sequential_steps(graph)
    assert chain[0] == "server-cloud-init" and after == 3
    assert cloud_waiting_on_the_host(graph) == []
    late_dns = Graph.of(
        [
            _entry(REMOTE, "server-cloud-init"),
            _entry("cloudflare:index/dnsRecord:DnsRecord", "app-a", ("server-cloud-init",)),
        ]
    )
    assert cloud_waiting_on_the_host(late_dns) == ["app-a"]
