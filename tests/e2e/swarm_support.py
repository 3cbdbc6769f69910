"""Support for the Swarm e2e: the program's own Swarm steps, three nested engines.

The steps are the ones the program registers for the three-node pools
(`deploy_cluster` under the mock engine): each `create` script and the secret
stdin of the stack step, run in the node containers with `docker exec` instead
of over SSH. Two things differ from a real `up`, both named here:
- the config's `imageRegistryMirror` is set to the stand-ins' namespace after
  validation (only the local stack may name it), so the stack runs the
  `mailstack-standin/...` images loaded into each node;
- no ACME CA is reachable, so the Caddyfile's `cert_issuer acme` becomes
  Caddy's internal CA (`local_certs`) in the stack step's text.
The engine step (daemon.json + `systemctl restart docker`) is not run: the
containers' engines run without live-restore from the start.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.images import STANDIN_NAMESPACE
from common.topology import NodePool, Role, cluster_nodes
from components.services import kinds
from components.swarm_steps import join_token, render_members_step
from mailstack.cluster_wiring import deploy_cluster
from mailstack.config import validate
from tests.conftest import stack_config
from tests.e2e.images.build import standin
from tests.unit.test_topology import THREE
from tools.harness import SECRET_SIG, run_program

NODE_IMAGE = "mailstack-test/swarm-node:1"
STACK_IMAGES = (
    standin(kinds.CADDY.ref),
    standin("postgres:17.5"),
    standin("listmonk/listmonk:v5.0.3"),
)
"""The stand-ins the dev stack's services run, loaded into every node."""
APP_HOST = "app.dev.example.com"
GATEWAY = "10.42.0.1"
"""The bridge's gateway: where the test's requests come from, as the nodes see them."""


@dataclass(frozen=True)
class Steps:
    """The program's Swarm step scripts by node, and the stack step."""

    init: str
    joins: dict[str, str]
    volume_dirs: dict[str, str]
    stack: str
    stack_stdin: str
    others: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Every other remote step the program registers (the backup's), by name:
    its `create` and its stdin, in registration order."""
    load_balancer: dict[int, bool] = field(default_factory=dict)
    """The load balancer's services as the program registers them: each port and
    whether its connections open with a PROXY header."""


def _plain(value: Any) -> str:
    if isinstance(value, dict) and SECRET_SIG in value:
        return str(value["value"])
    return str(value)


BASE_EDITS: dict[str, Any] = {
    "nodePools": THREE,
    "backupEnabled": False,
    "monitoring": False,
    # The stand-ins come from no registry: there is no digest to pin them by.
    "pinImageDigests": False,
    # The test's requests come from the bridge gateway: the admin paths
    # (listmonk's /api/*) admit it, so data is written through the proxy.
    "adminCidrs": [f"{GATEWAY}/32"],
}
"""The dev stack the Swarm e2e deploys: the three pools (manager on the edge), no backups."""


def rendered_steps(app_image: str = "", **edits: Any) -> Steps:
    """The remote steps the program registers for `BASE_EDITS` plus `edits` on dev."""
    edits = {**BASE_EDITS, **edits}
    if app_image:
        edits["appImage"] = app_image
    raw, secret_keys = stack_config("dev", set=edits)
    config = validate(raw, secret_keys, stack="dev")
    services = config.services.model_copy(update={"image_registry_mirror": STANDIN_NAMESPACE})
    config = config.model_copy(update={"services": services})
    run = run_program("dev", raw, secret_keys, program=lambda: deploy_cluster(config))
    remote = [r for r in run.registrations if r.type == "command:remote:Command"]
    steps = {r.name: r.inputs for r in remote if r.name.startswith("swarm-")}
    stack = _plain(steps["swarm-stack"]["create"])
    assert "\tcert_issuer acme\n" in stack
    return Steps(
        init=_plain(steps["swarm-init"]["create"]),
        joins={
            n.removeprefix("swarm-join-"): _plain(i["create"])
            for n, i in steps.items()
            if n.startswith("swarm-join-")
        },
        volume_dirs={
            n.removeprefix("swarm-").removesuffix("-volume-dirs"): _plain(i["create"])
            for n, i in steps.items()
            if n.endswith("-volume-dirs")
        },
        stack=stack.replace("\tcert_issuer acme\n", "\tlocal_certs\n\tskip_install_trust\n"),
        stack_stdin=_plain(steps["swarm-stack"]["stdin"]),
        others={
            r.name: (_plain(r.inputs["create"]), _plain(r.inputs.get("stdin", "")))
            for r in remote
            if not r.name.startswith("swarm-")
        },
        load_balancer={
            r.inputs["listenPort"]: r.inputs["proxyprotocol"]
            for r in run.of_type("hcloud:index/loadBalancerService:LoadBalancerService")
        },
    )


def nodes(pools: list[str] = THREE) -> list[Any]:
    return cluster_nodes([NodePool.parse(p) for p in pools])


def sh(container: str, script: str, stdin: str = "", timeout: float = 900) -> str:
    """Run a step's script in a node, as `run_step` runs it over SSH."""
    done = subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{container}: {done.stderr[-3000:]}"
    return done.stdout


def members_script(ids: Mapping[str, str], pools: list[str] = THREE) -> str:
    """The members step as the program renders it once the joins printed their ids."""
    first, *others = nodes(pools)
    return render_members_step(first.roles, {ids[n.name]: n.roles for n in others})


def token_for(init_stdout: str, node: Any) -> str:
    """A node's join token from the init step's stdout, as the program picks it."""
    return join_token(init_stdout, "manager" in {r.value for r in node.roles})


def request(
    ip: str, path: str, method: str = "GET", body: bytes = b"", timeout: float = 15
) -> tuple[int, bytes]:
    """One HTTP/1.0 request (no chunking) to the proxy at `ip:443` for the app's host.

    The timeout is above the proxy's 10 s `lb_try_duration`: the proxy may hold a
    request while it retries a dead task's dial on another, and that request is
    served, not failed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # Caddy's internal CA in the test
    with (
        socket.create_connection((ip, 443), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=APP_HOST) as tls,
    ):
        head = (
            f"{method} {path} HTTP/1.0\r\nHost: {APP_HOST}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        tls.sendall(head.encode() + body)
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    header, _, payload = data.partition(b"\r\n\r\n")
    return int(header.split(b" ", 2)[1]), payload


def https(ip: str, path: str, method: str = "GET", body: bytes = b"") -> int:
    return request(ip, path, method, body)[0]


@dataclass
class RequestLoop:
    """Requests to the app through the proxy, one after another, in a thread."""

    ip: str
    path: str = "/health"
    results: list[tuple[float, bool]] = field(default_factory=list)
    slowest: float = 0.0
    """The longest a successful request took (seconds)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                ok = https(self.ip, self.path) == 200
            except OSError:
                ok = False
            if ok:
                self.slowest = max(self.slowest, time.monotonic() - start)
            self.results.append((start, ok))
            if not ok:
                time.sleep(0.05)

    def __enter__(self) -> RequestLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)

    def clean_for(self, seconds: float, after: float) -> bool:
        """Every request of the last `seconds` succeeded, and they all began after `after`."""
        now = time.monotonic()
        recent = [ok for start, ok in self.results if start > now - seconds]
        return now - seconds > after and bool(recent) and all(recent)

    @property
    def failed(self) -> int:
        return sum(1 for _, ok in self.results if not ok)

    def longest_gap(self) -> float:
        """Seconds from the first failed request of the longest failing run to the
        next successful request's start (0 when none failed)."""
        gap, since = 0.0, None
        for start, ok in self.results:
            if not ok and since is None:
                since = start
            elif ok and since is not None:
                gap, since = max(gap, start - since), None
        if since is not None:
            gap = max(gap, self.results[-1][0] - since)
        return gap


def docker(*argv: str, check: bool = True, timeout: float = 600) -> str:
    done = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {argv[:3]}: {done.stderr[-2000:]}"
    return done.stdout


@dataclass
class Cluster:
    prefix: str
    pools: list[str]
    containers: dict[str, str]
    """Node name -> container name."""
    steps: Steps
    edge_ip: str
    """The first proxy node's address: where the load balancer would send requests."""

    @property
    def manager(self) -> str:
        """The container of the first manager, where the stack is deployed."""
        return self.containers[nodes(self.pools)[0].name]

    def wait_until(self, predicate: Callable[[], object], what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}")


def _engine_up(container: str) -> bool:
    done = subprocess.run(["docker", "exec", container, "docker", "info"], capture_output=True)
    return done.returncode == 0


def _start(network: str, prefix: str, pools: list[str], containers: dict[str, str]) -> None:
    """Start a node container per node, each entered in `containers` before it is
    started, so the caller's cleanup removes whatever did start."""
    docker("network", "create", "--subnet", "10.42.0.0/16", "--gateway", GATEWAY, network)
    for node in nodes(pools):
        name = f"{prefix}-{node.name}"
        containers[node.name] = name
        docker(
            "run", "-d", "--name", name, "--hostname", node.name,
            "--network", network, "--ip", node.private_ip,
            "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "-v", "/var/lib/docker", NODE_IMAGE, "dockerd",
        )  # fmt: skip


def _load_images(containers: dict[str, str], images: Sequence[str]) -> None:
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    assert save.stdout is not None
    archive = save.stdout.read()
    assert save.wait() == 0
    for container in containers.values():
        subprocess.run(
            ["docker", "exec", "-i", container, "docker", "load", "-q"],
            input=archive,
            check=True,
            capture_output=True,
            timeout=600,
        )


def _build_swarm(c: Cluster) -> None:
    first, *others = nodes(c.pools)
    tokens = sh(c.containers[first.name], c.steps.init)
    ids = {
        n.name: sh(c.containers[n.name], c.steps.joins[n.name], stdin=token_for(tokens, n)).strip()
        for n in others
    }
    sh(c.containers[first.name], members_script(ids, c.pools))
    for node, script in c.steps.volume_dirs.items():
        sh(c.containers[node], script)


def deploy(c: Cluster, steps: Steps) -> None:
    sh(c.manager, steps.stack, stdin=steps.stack_stdin)


@contextlib.contextmanager
def tcp_proxy(c: Cluster, name: str, ip: str, ports: Mapping[int, bool]) -> Iterator[str]:
    """A TCP proxy at `ip` on the cluster's network passing each of `ports` through
    to the edge node, with a PROXY header (v1, HAProxy's `send-proxy`) naming the
    client where `ports` says so, as the Hetzner load balancer does with
    `proxyprotocol`; the container's name."""
    config = (
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n"
    )
    for port, proxied in sorted(ports.items()):
        header = " send-proxy" if proxied else ""
        config += (
            f"frontend in{port}\n  bind :{port}\n  default_backend out{port}\n"
            f"backend out{port}\n  server edge {c.edge_ip}:{port}{header}\n"
        )
    container = f"{c.prefix}-{name}"
    try:
        docker(
            "run", "-d", "--name", container, "--network", f"{c.prefix}-net", "--ip", ip,
            "-e", f"CONFIG={config}", NODE_IMAGE,
            "sh", "-c", 'printf "%s" "$CONFIG" >/tmp/lb.cfg && exec haproxy -db -f /tmp/lb.cfg',
        )  # fmt: skip
        c.wait_until(lambda: https_or_none(ip, "/health") == 200, f"{name} passing through", 60)
        yield container
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


def https_or_none(ip: str, path: str) -> int | None:
    try:
        return https(ip, path)
    except OSError:
        return None


def nodes_ready(c: Cluster) -> dict[str, str]:
    """Each Swarm node's hostname and status, as the manager sees them."""
    out = sh(c.manager, "docker node ls --format '{{.Hostname}} {{.Status}}'")
    return dict(line.split() for line in out.splitlines())


def answers(c: Cluster) -> bool:
    return https_or_none(c.edge_ip, "/health") == 200


@contextlib.contextmanager
def running_cluster(
    prefix: str,
    pools: list[str],
    steps: Steps,
    images: Sequence[str],
    before_stack: Callable[[Cluster], None] = lambda c: None,
) -> Iterator[Cluster]:
    """Nested engines for `pools` on one bridge, the Swarm built and the stack
    deployed by the program's steps (`before_stack` runs first, e.g. the
    backup's), the app answering through the proxy; removed afterwards."""
    subprocess.run(
        ["docker", "build", "-q", "--build-arg", "DEBIAN=mailstack-test/debian:bookworm",
         "-t", NODE_IMAGE, "tests/e2e/images/swarm-node"],
        check=True, capture_output=True,
    )  # fmt: skip
    prefix = f"{prefix}-{os.getpid()}"
    network, containers = f"{prefix}-net", dict[str, str]()
    started = time.monotonic()
    try:
        _start(network, prefix, pools, containers)
        edge = next(n for n in nodes(pools) if Role.PROXY in n.roles)
        c = Cluster(prefix, pools, containers, steps, edge.private_ip)
        for container in containers.values():
            c.wait_until(functools.partial(_engine_up, container), "engine", 120)
        _load_images(containers, images)
        _build_swarm(c)
        # A node that is not Ready when the stack is deployed gets no task, and
        # Swarm never moves one to it later.
        c.wait_until(lambda: set(nodes_ready(c).values()) == {"Ready"}, "every node Ready", 120)
        before_stack(c)
        deploy(c, c.steps)
        c.wait_until(lambda: answers(c), "the app through the proxy", 300)
        print(f"\n{prefix}: cluster up and app answering after {time.monotonic() - started:.0f}s")
        yield c
    finally:
        for container in containers.values():
            subprocess.run(["docker", "rm", "-fv", container], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
        print(f"{prefix}: total {time.monotonic() - started:.0f}s")
