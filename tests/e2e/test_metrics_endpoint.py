"""`/metrics` end to end: node_exporter behind the real proxy on a real engine.

Monitoring runs on servers only, so the local stack is rendered by the same
`ComposeProject` with the monitoring a server gets from `services_args` (the
exporter, the backups' textfile directory, an admin CIDR) switched on, and
deployed on the local engine. The exporter is Debian's node_exporter under
a stand-in name (`mailstack-standin/prom/node-exporter`): the real program
reads the rendered flags and mounts, the host's /proc, /sys and root
filesystem, and the textfiles. The tests share one running stack and run
in file order: first from an address that is not an admin's, then from one
that is.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.layout import HostLayout
from components.host import Host
from components.services import kinds
from components.services.deploy import ComposeProject
from components.services.model import Service
from mailstack.config import load_config
from mailstack.wiring import services_args
from tests.e2e.images.build import build_all
from tests.e2e.localstack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOBODY = "192.0.2.0/24"
"""TEST-NET-1: an admin CIDR no client here connects from."""
BACKUP_METRICS = """\
# HELP mailstack_backup_last_success_timestamp_seconds End of the last successful backup.
# TYPE mailstack_backup_last_success_timestamp_seconds gauge
mailstack_backup_last_success_timestamp_seconds 1746069300
# HELP mailstack_backup_max_age_seconds Age after which the backup counts as stale.
# TYPE mailstack_backup_max_age_seconds gauge
mailstack_backup_max_age_seconds 93600
"""
"""What a successful backup writes to `mailstack_backup.prom` (assets/backup/mailstack-backup)."""
NODE_EXPORTER = kinds.node_exporter


def _without_propagation(textfile_dir: str = "") -> Service:
    """The exporter as rendered, but with Docker's default bind propagation.

    Docker refuses `rslave` unless the host's / is a shared mount, as systemd
    makes it on every server; on this build machine it is private. The unit
    tests pin the option.
    """
    exporter = NODE_EXPORTER(textfile_dir)
    return replace(exporter, mounts=tuple(replace(m, propagation="") for m in exporter.mounts))


def _monitored(textfiles: Path, admin_cidrs: tuple[str, ...]) -> Callable[[], None]:
    """A program: the local stack's services with a server's monitoring."""

    def program() -> None:
        host = Host("local", connection=None, layout=HostLayout.for_stack("local", "build/local"))
        args = services_args(load_config(), host)
        params = replace(
            args.stack, monitoring=True, textfile_dir=str(textfiles), admin_cidrs=admin_cidrs
        )
        ComposeProject("services", replace(args, stack=params))

    return program


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    build_all()
    root = tmp_path_factory.mktemp("metrics-e2e")
    # As the backups leave it: 0755, files 0644; the exporter is not root.
    textfiles = root / "textfiles"
    textfiles.mkdir(mode=0o755)
    (textfiles / "mailstack_backup.prom").write_text(BACKUP_METRICS)
    (textfiles / "mailstack_backup.prom").chmod(0o644)
    stack = LocalStack(
        root, project="mailstack-e2e-metrics", http_port=18580, mail_ui_port=18525, settings={}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kinds, "node_exporter", _without_propagation)
        stack.down(volumes=True)
        stack.synth(_monitored(textfiles, (NOBODY,)))
        stack.up()
        try:
            yield stack
        finally:
            stack.down(volumes=True)


def _textfiles(stack: LocalStack) -> Path:
    return stack.root / "textfiles"


def test_the_exporter_is_healthy_unpublished_internal_and_read_only(stack: LocalStack) -> None:
    (container,) = stack.containers("node-exporter")
    assert container["State"]["Health"]["Status"] == "healthy"
    assert container["Config"]["User"] == "65534:65534"
    host = container["HostConfig"]
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert not host["PortBindings"] and not container["NetworkSettings"]["Ports"]
    assert list(container["NetworkSettings"]["Networks"]) == [f"{stack.project}_internal"]
    mounts = {m["Source"]: m for m in container["Mounts"]}
    assert set(mounts) == {"/proc", "/sys", "/", str(_textfiles(stack))}
    assert not [m for m in mounts.values() if m["RW"]]


def test_metrics_are_refused_to_a_source_outside_the_admin_cidrs(stack: LocalStack) -> None:
    status, _, body = stack.get("/metrics")
    assert (status, body) == (403, b"Forbidden")
    # The check is on the connection's address, not on what the client claims.
    status, _, _ = stack.get("/metrics", headers={"X-Forwarded-For": "192.0.2.10"})
    assert status == 403
    status, _, _ = stack.get("/")
    assert status == 200


def _edge_gateway(stack: LocalStack) -> str:
    """Where the proxy sees the host's requests come from: the published port is
    forwarded from the host's address on the `edge` bridge."""
    out = subprocess.run(
        ["docker", "network", "inspect", f"{stack.project}_edge"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    gateway: str = json.loads(out)[0]["IPAM"]["Config"][0]["Gateway"]
    return gateway


def _samples(body: bytes) -> dict[str, str]:
    """Exposition text -> {series: value}, comments left out."""
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    return dict(line.rsplit(" ", 1) for line in lines)


def test_an_admin_source_gets_host_and_backup_metrics(stack: LocalStack) -> None:
    stack.synth(_monitored(_textfiles(stack), (f"{_edge_gateway(stack)}/32",)))
    stack.deploy("proxy")
    status, headers, body = stack.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = _samples(body)
    assert float(samples["mailstack_backup_last_success_timestamp_seconds"]) == 1746069300
    assert float(samples["mailstack_backup_max_age_seconds"]) == 93600
    assert samples["node_textfile_scrape_error"] == "0"
    # Read through the rendered --path.* flags: the host's, not the container's.
    assert float(samples["node_load1"]) >= 0
    root = [s for s in samples if s.startswith("node_filesystem_avail_bytes{")]
    assert [s for s in root if 'mountpoint="/"' in s], root
    # Read on every scrape: the next backup's file shows at once.
    (_textfiles(stack) / "mailstack_backup.prom").write_text(
        BACKUP_METRICS.replace("1746069300", "1746155700")
    )
    _, _, body = stack.get("/metrics")
    assert float(_samples(body)["mailstack_backup_last_success_timestamp_seconds"]) == 1746155700
