"""The three-node Swarm, built by the program's own steps in three nested engines.

Three containers run Debian's docker.io (tests/e2e/images/swarm-node) on one
user-defined bridge, 10.42.0.0/16, standing for the Hetzner private network,
each at the private address the program gives its node. The stand-in images
are loaded into each. Then, in order: the init step on the first manager, the
join steps (their token from the init step's stdout, on stdin), the members
step, the volume-dirs steps and the stack step (`docker stack deploy`), as
rendered by the program (tests/e2e/swarm_support.py says what differs).

Proves: the app answers through the proxy; a rolling update of the app fails
no request; with one app node's engine gone the app keeps serving (the gap is
measured and printed, not asserted against a clock); data written through the
app survives the stack being removed and deployed again.

    flock /tmp/docker.lock .venv/bin/python -m pytest -p no:xdist -s tests/e2e/test_swarm_cluster.py
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest

from common.topology import LOAD_BALANCER_IP, NODE_LABEL
from tests.e2e.images.build import NEXT_LISTMONK, standin
from tests.e2e.swarm_support import (
    APP_HOST,
    STACK_IMAGES,
    Cluster,
    RequestLoop,
    answers,
    deploy,
    docker,
    https,
    nodes_ready,
    rendered_steps,
    request,
    running_cluster,
    sh,
    tcp_proxy,
)
from tests.unit.test_topology import THREE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "mailstack-dev"
IMAGES = (*STACK_IMAGES, standin(NEXT_LISTMONK))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster("ms-swarm", THREE, rendered_steps(), IMAGES) as c:
        yield c


def test_three_nodes_joined_with_their_roles(cluster: Cluster) -> None:
    assert nodes_ready(cluster) == {"edge-1": "Ready", "app-1": "Ready", "db-1": "Ready"}
    inspect = "docker node inspect --format '{{.ID}} {{json .Spec.Labels}}' app-1"
    node_id, labels = sh(cluster.manager, inspect).split(" ", 1)
    assert json.loads(labels) == {"mailstack.role.app": "true", NODE_LABEL: node_id}
    # The database runs on the db node, the app's two replicas on the two app nodes.
    placed = sh(
        cluster.manager,
        f"docker stack ps {PROJECT} --filter desired-state=running "
        "--format '{{.Name}} {{.Node}}'",
    )
    where = sorted(tuple(line.split()) for line in placed.splitlines())
    assert (f"{PROJECT}_db.1", "db-1") in where
    apps = sorted(node for name, node in where if name.startswith(f"{PROJECT}_app."))
    assert apps == ["app-1", "edge-1"]


def test_the_app_answers_through_the_proxy(cluster: Cluster) -> None:
    assert https(cluster.edge_ip, "/health") == 200
    # The admin paths stay the admin networks' (the test's address is one of them).
    assert https(cluster.edge_ip, "/api/subscribers") == 200


OUTSIDER = "10.42.9.9"
"""A client on no admin network (adminCidrs admits the gateway, the test's address)."""


def test_through_the_load_balancer_the_proxy_sees_each_clients_own_address(
    cluster: Cluster,
) -> None:
    """Caddy reads the client's address from the PROXY header of the load
    balancer's connections (at its private address) and from no one else's."""
    rogue_ports = {443: True}
    with (
        tcp_proxy(cluster, "lb", LOAD_BALANCER_IP, cluster.steps.load_balancer),
        tcp_proxy(cluster, "rogue", OUTSIDER, rogue_ports) as rogue,
    ):
        # The test (an admin address) through the load balancer: still admin.
        assert https(LOAD_BALANCER_IP, "/api/subscribers") == 200
        # Another client through the load balancer: not admin.
        url = f"https://{APP_HOST}/api/subscribers"
        outsider = docker(
            "exec", rogue, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
            "--resolve", f"{APP_HOST}:443:{LOAD_BALANCER_IP}", url,
        )  # fmt: skip
        assert outsider == "403"
        # Port 80 through the load balancer still redirects (ACME's HTTP-01 takes
        # the same way): Caddy makes its redirect server at run time, without
        # the listener wrapper, so the load balancer sends no header there.
        plain = http.client.HTTPConnection(LOAD_BALANCER_IP, 80, timeout=15)
        plain.request("GET", "/x?y=1", headers={"Host": APP_HOST})
        response = plain.getresponse()
        assert (response.status, response.getheader("Location")) == (
            308,
            f"https://{APP_HOST}/x?y=1",
        )
        plain.close()
        # A proxy elsewhere on the network sends the header too, naming the test's
        # admin address: Caddy reads it and keeps the proxy's own address.
        assert https(OUTSIDER, "/health") == 200
        assert https(OUTSIDER, "/api/subscribers") == 403
    # Without a load balancer in the way, as every other test here connects.
    assert https(cluster.edge_ip, "/api/subscribers") == 200


def test_a_rolling_update_fails_no_request(cluster: Cluster) -> None:
    steps = rendered_steps(app_image=NEXT_LISTMONK)
    assert steps.stack != cluster.steps.stack
    with RequestLoop(cluster.edge_ip) as loop:
        time.sleep(2)
        started = time.monotonic()
        deploy(cluster, steps)
        took = time.monotonic() - started
        time.sleep(2)
    image = sh(
        cluster.manager,
        f"docker service inspect --format '{{{{.Spec.TaskTemplate.ContainerSpec.Image}}}}' "
        f"{PROJECT}_app",
    )
    print(
        f"\nrolling update: {len(loop.results)} requests, {loop.failed} failed, "
        f"slowest {loop.slowest:.2f}s, stack step {took:.0f}s"
    )
    assert image.strip().startswith(standin(NEXT_LISTMONK))
    assert len(loop.results) > 50
    assert loop.failed == 0
    cluster.steps = steps


def test_the_app_keeps_serving_without_one_app_nodes_engine(cluster: Cluster) -> None:
    with RequestLoop(cluster.edge_ip) as loop:
        time.sleep(3)
        # dockerd is the container's first process: killing it stops the engine and
        # every container on that node at once, as a crash would.
        killed = time.monotonic()
        docker("kill", cluster.containers["app-1"])
        cluster.wait_until(lambda: nodes_ready(cluster).get("app-1") == "Down", "app-1 down", 120)
        down = time.monotonic()
        # The verdict: the app serves from the remaining app node, every request
        # of 10 s succeeding. Swarm drops the lost task from the service's DNS and
        # the proxy stops dialling it in their own time, so how long that took
        # is measured and printed, bounded only by the wait.
        cluster.wait_until(lambda: loop.clean_for(10, after=down), "10 s of clean serving", 180)
    failed_after_kill = [start for start, ok in loop.results if start > killed and not ok]
    recovered = (failed_after_kill[-1] - killed) if failed_after_kill else 0.0
    print(
        f"\nfailover: {len(loop.results)} requests, {loop.failed} failed, "
        f"longest failing run {loop.longest_gap():.2f}s, last failure {recovered:.2f}s after "
        f"the kill, app-1 Down after {down - killed:.1f}s, slowest success {loop.slowest:.2f}s"
    )


def test_the_database_keeps_its_data_across_a_redeploy(cluster: Cluster) -> None:
    email = f"kept-{cluster.prefix}@example.org"
    body = json.dumps({"email": email}).encode()
    assert https(cluster.edge_ip, "/api/subscribers", "POST", body) == 201
    edge = cluster.manager
    sh(edge, f"docker stack rm {PROJECT}")
    # `stack rm` returns at once; the stack's networks go last.
    namespace = f"label=com.docker.stack.namespace={PROJECT}"
    cluster.wait_until(
        lambda: not sh(edge, f"docker network ls -q --filter {namespace}").strip(),
        "the stack removed",
        120,
    )
    deploy(cluster, cluster.steps)
    cluster.wait_until(lambda: answers(cluster), "the app back", 300)
    status, payload = request(cluster.edge_ip, "/api/subscribers")
    assert status == 200
    assert email in json.loads(payload)["data"]
