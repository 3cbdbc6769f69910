"""A release that migrates its database and then fails is undone, database included.

A compose project rendered from the service model by the real renderers runs
on the local Docker engine, with the real deploy steps (deploy.sh.j2,
mailstack-release) and the real backup tools (mailstack-backup,
mailstack-restore) on a restic repository here; `sudo` is a stand-in that
runs the command as is. The app keeps its data in SQLite on a bind mount, and
its `app-install` job (the app's own image, so a migrating job) creates the
schema; release v2's job changes the schema and rewrites rows, then v2's app
never turns healthy. The deploy must put v1 back with the database of the
pre-update snapshot: every row written before the update, the v1 schema.

Also, without Docker: the last five pre-update snapshots are kept apart from
the scheduled retention, and a hostile release id is refused.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.backup import ASSETS
from components.services.compose import render_compose, service_hash
from components.services.deploy import RELEASE_SCRIPT
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
from components.services.steps import Releases, render_deploy_step
from tests.e2e.backup_support import BackupHost, sources_for, temp_dir
from tests.e2e.images.build import BASE, build_all
from tools.harness import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP_IMAGE = "mailstack-test/release-app"
LIMITS = Limits(memory_mb=64, cpus=0.5)
MIGRATE = """
import sqlite3
release = open('/release').read().strip()
db = sqlite3.connect('/data/app.db')
db.execute('CREATE TABLE IF NOT EXISTS subscribers (id INTEGER PRIMARY KEY, email TEXT NOT NULL)')
if release == 'v2':
    db.execute('ALTER TABLE subscribers ADD COLUMN score INTEGER NOT NULL DEFAULT 0')
    db.execute('CREATE TABLE events (id INTEGER PRIMARY KEY)')
    db.execute("UPDATE subscribers SET email = 'v2:' || email")
db.commit()
"""
# v2 never turns healthy: it never writes the file its healthcheck looks for.
SERVE = "grep -qx v2 /release || touch /tmp/ok; exec sleep infinity"
HEALTH = Healthcheck(
    ("CMD", "test", "-e", "/tmp/ok"), interval="1s", timeout="10s", retries=3, start_period="2s"
)


def _build(tag: str) -> str:
    """An app image whose /release says which release it is (built FROM the stand-in base)."""
    ref = f"{APP_IMAGE}:{tag}"
    dockerfile = f"FROM {BASE}\nRUN echo {tag} > /release\n"
    subprocess.run(
        ["docker", "build", "-q", "-t", ref, "-"],
        input=dockerfile,
        text=True,
        check=True,
        capture_output=True,
    )
    return ref


def _project(name: str, tag: str) -> Project:
    image = Image(APP_IMAGE, tag)
    data = Mount("./data", "/data")
    install = Service(
        name="app-install",
        role=Role.JOB,
        image=image,
        limits=LIMITS,
        command=("python3", "-c", MIGRATE),
        mounts=(data,),
    )
    app = Service(
        name="app",
        role=Role.APP,
        image=image,
        limits=LIMITS,
        command=("sh", "-c", SERVE),
        mounts=(data,),
        tmpfs=("/tmp",),
        depends_on={"app-install": Condition.COMPLETED},
        healthcheck=HEALTH,
    )
    # Every project has its proxy (the model requires one); it starts after the app.
    proxy = Service(
        name="proxy",
        role=Role.PROXY,
        image=Image.parse(BASE),
        limits=LIMITS,
        command=("sleep", "infinity"),
        depends_on={"app": Condition.HEALTHY},
        healthcheck=Healthcheck(("CMD", "true"), interval="1s", start_period="1s"),
    )
    return Project(name, (proxy, install, app))


@dataclass
class Deployer:
    """Renders the project and runs its deploy steps as Pulumi would, in order."""

    root: Path
    name: str
    host: BackupHost

    @property
    def compose_dir(self) -> Path:
        return self.root / "data" / "compose"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def setup(self) -> None:
        (self.compose_dir / "data").mkdir(parents=True)
        self.bin.mkdir()
        conf = self.host.paths.config_file
        cache = self.host.root / "cache"
        for tool in ("mailstack-backup", "mailstack-restore"):
            wrapper = self.bin / tool
            wrapper.write_text(
                f"#!/bin/sh\nexport RESTIC_CACHE_DIR='{cache}' TZ=UTC\n"
                f"exec '{ASSETS / tool}' --config '{conf}' \"$@\"\n"
            )
            wrapper.chmod(0o755)
        sudo = self.bin / "sudo"
        sudo.write_text('#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
        sudo.chmod(0o755)

    def deploy(self, tag: str) -> dict[str, subprocess.CompletedProcess[str]]:
        """The files step, then each service's step; stops at the first that fails."""
        project = _project(self.name, tag)
        (self.compose_dir / "compose.yaml").write_text(render_compose(project))
        (self.compose_dir / RELEASE_SCRIPT).write_text(
            (ROOT / "assets" / "services" / RELEASE_SCRIPT).read_text()
        )
        releases = Releases("../releases", str(self.bin))
        done: dict[str, subprocess.CompletedProcess[str]] = {}
        for service in project.in_dependency_order():
            script = render_deploy_step(
                service, project, str(self.compose_dir), service_hash(service, project), releases
            )
            done[service.name] = step = subprocess.run(
                ["sh", "-c", script],
                env={"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            if step.returncode:
                break
        return done

    def compose(self, *args: str) -> str:
        argv = ["docker", "compose", "-f", str(self.compose_dir / "compose.yaml"), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def remove_release_tags(self) -> None:
        """The tags mailstack-release pinned this project's images with."""
        for service in ("app-install", "app"):
            if (self.root / "data" / "releases" / service / "history").exists():
                tags = {f"mailstack-release/{service}:{line[0]}" for line in self.history(service)}
                subprocess.run(["docker", "image", "rm", *sorted(tags)], capture_output=True)

    def history(self, service: str) -> list[list[str]]:
        path = self.root / "data" / "releases" / service / "history"
        return [line.split("\t") for line in path.read_text().splitlines()]


@pytest.fixture
def deployer() -> Iterator[Deployer]:
    build_all()
    with temp_dir("release-migration") as root:
        name = f"mailstack-e2e-migration-{secrets.token_hex(3)}"
        (root / "host").mkdir()
        db = root / "data" / "compose" / "data" / "app.db"
        host = BackupHost(root / "host", sources_for(sqlite_path=db))
        d = Deployer(root, name, host)
        d.setup()
        host.ok("mailstack-backup", "init")
        try:
            yield d
        finally:
            subprocess.run(
                ["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"],
                capture_output=True,
                check=False,
            )
            d.remove_release_tags()


def _rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT email FROM subscribers ORDER BY id")]


def _tables_and_columns(db: Path) -> tuple[set[str], list[str]]:
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = [r[1] for r in conn.execute("PRAGMA table_info(subscribers)")]
    return tables, columns


def test_a_migrated_release_that_fails_comes_back_with_its_database(
    deployer: Deployer,
) -> None:
    v1_image = _build("v1")
    _build("v2")
    first = deployer.deploy("v1")
    assert all(s.returncode == 0 for s in first.values()), {k: v.stderr for k, v in first.items()}
    db = deployer.compose_dir / "data" / "app.db"
    before = [f"reader{i}@example.org" for i in range(200)]
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO subscribers (email) VALUES (?)", [(e,) for e in before])
    v1_schema = _tables_and_columns(db)

    second = deployer.deploy("v2")

    install, app = second["app-install"], second["app"]
    assert install.returncode == 0, install.stderr
    assert "pre-update snapshot" in install.stderr
    assert app.returncode != 0
    assert "restoring the databases from pre-update snapshot" in app.stderr
    assert "rolled back to release" in app.stderr
    # The migration did run (the job's release is recorded good) ...
    assert deployer.history("app-install")[-1][2] == "ok"
    # ... and is undone: the v1 schema, every row as it was, v1 serving.
    assert _tables_and_columns(db) == v1_schema
    assert _rows(db) == before
    outcomes = [line[2] for line in deployer.history("app")]
    assert outcomes == ["ok", "failed", "rollback"]
    (container,) = json.loads(deployer.compose("ps", "--format", "json", "app") or "null") and [
        json.loads(line) for line in deployer.compose("ps", "--format", "json", "app").splitlines()
    ]
    assert container["Health"] == "healthy"
    image_id = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", v1_image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.Image}}", container["ID"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert running == image_id
    # The snapshot the database came from: tagged for the job's release.
    job_release = deployer.history("app-install")[-1][0]
    (snap,) = json.loads(deployer.host.restic("snapshots", "--json", "--tag", "pre-update").stdout)
    assert sorted(snap["tags"]) == ["pre-update", f"release={job_release}"]
    # The restore left the app to mailstack-release (--no-app): no stop/start of its own.
    assert not deployer.host.app_log.exists()


def test_pre_update_snapshots_keep_the_last_five_apart_from_the_schedule() -> None:
    with temp_dir("pre-update") as root:
        files = root / "files"
        files.mkdir()
        (files / "a.txt").write_text("a")
        (root / "host").mkdir()
        host = BackupHost(root / "host", sources_for(files=files), keep=(1, 1, 1))
        host.ok("mailstack-backup", "init")
        host.ok("mailstack-backup")
        ids = [f"{n:012x}" for n in range(1, 8)]
        printed = [host.ok("mailstack-backup", "pre-update", "--release", i).stdout for i in ids]
        assert all(len(p.strip()) >= 8 for p in printed)  # each prints its snapshot id
        host.ok("mailstack-backup")  # the scheduled retention runs again
        snapshots = json.loads(host.restic("snapshots", "--json").stdout)
        kept = sorted(
            t.removeprefix("release=")
            for s in snapshots
            for t in s.get("tags", [])
            if t.startswith("release=")
        )
        assert kept == ids[-5:]
        scheduled = [s for s in snapshots if "scheduled" in s.get("tags", [])]
        assert len(scheduled) == 1  # keep 1 daily: the schedule's own policy still applies


@pytest.mark.parametrize("release", ["abc", "0123456789ab;id", "0123456789AB", "$(id)", ""])
def test_a_hostile_release_id_is_refused(release: str) -> None:
    with temp_dir("pre-update-hostile") as root:
        files = root / "files"
        files.mkdir()
        (root / "host").mkdir()
        host = BackupHost(root / "host", sources_for(files=files))
        host.ok("mailstack-backup", "init")
        done = host.script("mailstack-backup", "pre-update", "--release", release)
        assert done.returncode != 0
        assert "pre-update needs --release <12 hex digits>" in done.stderr or release == ""
        assert host.snapshot_ids() == []
