"""Backups and a restore of a Swarm stack on its db node, by the program's own steps.

Two nested engines (tests/e2e/swarm_support.py): an edge node running the
proxy, and a db node that is the Swarm's manager and runs PostgreSQL and
listmonk (whose uploads volume must live on the db node for the backups to
reach it: mailstack refuses otherwise). The backup's install steps, as the
program registers them for the db node, run there before the stack is
deployed; the systemd units, timers and the status read are not run (the
node containers run dockerd, not systemd; tests/artifacts check the units
with systemd-analyze), so the test runs `mailstack-backup` and
`mailstack-restore` itself, as the timer and an operator would. The
repository is a local folder on the db node (a restic repository like any
other; the S3 ones need a network store).

Proves: a subscriber written before the backup is back after the restore and
one written after it is gone; the restore stopped the app through the Swarm
(its task is a new one) while the proxy on the other node kept running; the
listmonk jobs ran again before the app; the app answers again.

    flock /tmp/docker.lock .venv/bin/python -m pytest -p no:xdist -s tests/e2e/test_swarm_backup.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.swarm_support import (
    STACK_IMAGES,
    Cluster,
    answers,
    https,
    rendered_steps,
    request,
    running_cluster,
    sh,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "mailstack-dev"
POOLS = ["edge:1:cx23:proxy", "db:1:cx33:manager+db+app"]
REPOSITORY = "/srv/mailstack-restic"
JOBS = ("app-install", "app-settings")
"""listmonk's one-shot jobs: the schema upgrade and its settings (the relay) in the database."""
NOT_RUN = ("backup-unit-", "backup-timers", "backup-status")
"""The steps that need systemd on the node (see the module's docstring)."""


def _install_backups(c: Cluster) -> None:
    ran = []
    # The repository's init waits for every install step (its `after`).
    steps = sorted(c.steps.others.items(), key=lambda step: step[0] == "backup-init")
    for name, (create, stdin) in steps:
        if not name.startswith("backup-") or name.startswith(NOT_RUN):
            continue
        sh(c.containers["db-1"], create, stdin=stdin)
        ran.append(name)
    assert {"backup-packages", "backup-script-swarm", "backup-metrics-dir", "backup-init"} <= set(
        ran
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    steps = rendered_steps(nodePools=POOLS, backupEnabled=True, backupRepository=REPOSITORY)
    with running_cluster("ms-swarm-backup", POOLS, steps, STACK_IMAGES, _install_backups) as c:
        yield c


def _task(c: Cluster, service: str) -> str:
    """The id of the service's running task."""
    out = sh(
        c.manager,
        f"docker service ps -q --no-trunc --filter desired-state=running {PROJECT}_{service}",
    )
    (task,) = out.split()
    return task


def _tasks(c: Cluster, service: str) -> dict[str, str]:
    """Every task of the service the manager lists: id -> current state."""
    out = sh(
        c.manager,
        "docker service ps --no-trunc --format '{{.ID}} {{.CurrentState}}' "
        f"{PROJECT}_{service}",
    )
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def _subscribers(c: Cluster) -> list[str]:
    status, payload = request(c.edge_ip, "/api/subscribers")
    assert status == 200
    emails: list[str] = json.loads(payload)["data"]
    return emails


def _subscribe(c: Cluster, email: str) -> None:
    body = json.dumps({"email": email}).encode()
    assert https(c.edge_ip, "/api/subscribers", "POST", body) == 201


def test_the_config_reaches_the_database_through_its_task_on_the_db_node(cluster: Cluster) -> None:
    conf = sh(cluster.containers["db-1"], "cat /etc/mailstack/backup.conf")
    assert f"/usr/local/sbin/mailstack-swarm exec -e PGUSER=listmonk {PROJECT}_db" in conf


def test_a_restore_brings_back_the_snapshot_and_restarts_the_app_through_the_swarm(
    cluster: Cluster,
) -> None:
    db = cluster.containers["db-1"]
    kept, lost = f"kept-{cluster.prefix}@example.org", f"lost-{cluster.prefix}@example.org"
    _subscribe(cluster, kept)
    sh(db, "sudo -n /usr/local/sbin/mailstack-backup")
    restic = f"restic -r {REPOSITORY} --password-file /etc/mailstack/backup/restic-password"
    snapshots = json.loads(sh(db, f"{restic} snapshots --json"))
    assert len(snapshots) == 1
    _subscribe(cluster, lost)
    assert {kept, lost} <= set(_subscribers(cluster))
    app, proxy = _task(cluster, "app"), _task(cluster, "proxy")
    jobs = {job: _tasks(cluster, job) for job in JOBS}

    out = sh(db, "sudo -n /usr/local/sbin/mailstack-restore latest 2>&1", timeout=1200)
    print(f"\nrestore:\n{out[-3000:]}")

    cluster.wait_until(lambda: answers(cluster), "the app back", 300)
    emails = _subscribers(cluster)
    assert kept in emails
    assert lost not in emails
    # The app was stopped and started again by the Swarm; the proxy on the edge
    # node was left running.
    assert _task(cluster, "app") != app
    assert _task(cluster, "proxy") == proxy
    # Each listmonk job ran again to its end: a new task of it completed.
    for job, before in jobs.items():
        new = {t: state for t, state in _tasks(cluster, job).items() if t not in before}
        assert "Complete" in new.values(), (job, new)
