"""A restore brings a real compose project back up with its one-shot jobs run again.

The project is rendered from the service model by the real renderer and run on
the local Docker engine; the restore stops and starts it with the commands
`app_control` renders for a server. A stand-in job appends the time to a file
each run, and the app copies that file when it starts: after the restore the
job has run again, after the restore began, and before the app started.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.backup_sources import BackupSource, SourceKind, app_control
from components.services.compose import render_compose
from components.services.model import (
    Condition,
    Healthcheck,
    Image,
    Limits,
    Mount,
    Project,
    Role,
    Service,
)
from tests.e2e.backup_support import BackupHost, temp_dir
from tests.e2e.images.build import BASE, build_all

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IMAGE = Image.parse(BASE)
LIMITS = Limits(memory_mb=64, cpus=0.5)
HEALTHY = Healthcheck(("CMD", "true"), interval="1s", start_period="1s")


def _project(name: str) -> Project:
    job = Service(
        name="app-settings",
        role=Role.JOB,
        image=IMAGE,
        limits=LIMITS,
        command=("sh", "-c", "date +%s.%N >> /state/job-runs"),
        mounts=(Mount("./state", "/state"),),
    )
    app = Service(
        name="app",
        role=Role.APP,
        image=IMAGE,
        limits=LIMITS,
        command=("sh", "-c", "cp /state/job-runs /state/seen-by-app && exec sleep infinity"),
        mounts=(Mount("./state", "/state"), Mount("./data", "/data")),
        depends_on={"app-settings": Condition.COMPLETED},
        healthcheck=HEALTHY,
    )
    proxy = Service(
        name="proxy",
        role=Role.PROXY,
        image=IMAGE,
        limits=LIMITS,
        command=("sleep", "infinity"),
        depends_on={"app": Condition.HEALTHY},
        healthcheck=HEALTHY,
    )
    return Project(name, (proxy, job, app))


@dataclass
class ComposeProject:
    dir: Path
    project: Project
    host: BackupHost

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "-p", self.project.name, "-f", str(self.dir / "compose.yaml")]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def job_runs(self) -> list[float]:
        return [float(t) for t in (self.dir / "state/job-runs").read_text().split()]


@pytest.fixture
def compose_project() -> Iterator[ComposeProject]:
    build_all()  # the stand-in base image (cached: only what is missing or stale)
    with temp_dir("restart") as root:
        project = _project(f"mailstack-e2e-restart-{secrets.token_hex(3)}")
        project_dir = root / "compose"
        (project_dir / "state").mkdir(parents=True)
        (project_dir / "data").mkdir()
        (project_dir / "data/subscribers.txt").write_text("alice\nbob\n")
        (project_dir / "compose.yaml").write_text(render_compose(project))
        sources = (BackupSource(SourceKind.FILES, "data", str(project_dir / "data")),)
        (root / "host").mkdir()
        control = app_control(project, str(project_dir), sources)
        host = BackupHost(root / "host", sources, app=control)
        stack = ComposeProject(project_dir, project, host)
        try:
            stack.compose("up", "-d", "--wait", "app", "proxy")
            host.ok("mailstack-backup", "init")
            yield stack
        finally:
            subprocess.run(
                ["docker", "compose", "-p", project.name, "down", "-v", "-t", "1"],
                capture_output=True,
                check=False,
            )


def test_a_restore_runs_the_jobs_again_before_the_app_starts(
    compose_project: ComposeProject,
) -> None:
    stack = compose_project
    stack.host.ok("mailstack-backup")
    (stack.dir / "data/subscribers.txt").write_text("mallory\n")
    assert len(stack.job_runs()) == 1
    started = time.time()

    stack.host.ok("mailstack-restore", "latest")

    assert (stack.dir / "data/subscribers.txt").read_text() == "alice\nbob\n"
    runs = stack.job_runs()
    assert len(runs) == 2 and runs[-1] > started
    # The app started after the job's second run, so it read what the job wrote.
    assert (stack.dir / "state/seen-by-app").read_text().split() == [
        str(t) for t in (stack.dir / "state/job-runs").read_text().split()
    ]
    (job_id,) = stack.compose("ps", "-a", "-q", "app-settings").stdout.split()
    state = json.loads(
        subprocess.run(
            ["docker", "inspect", "-f", "{{json .State}}", job_id],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    for service in ("app", "proxy"):
        (cid,) = stack.compose("ps", "-q", service).stdout.split()
        health = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert health == "healthy", service
