"""The database sources exactly as a server's config renders them, run for real.

A fake `docker` first on PATH plays `docker compose -p <project> exec -T [-e ..]
<service> <tool>...`: it runs the tool on this machine with the environment
the container would have (compose.yaml's `environment`, the service's env
file, the `-e` flags) and nothing of the caller's, against a real MariaDB
server whose root password is the one the env file holds. So the dump and the
verified restore work only if the rendered command finds its credentials
inside the container, and every docker argv is checked for the password.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backup_sources import BackupSource, SourceKind
from tests.conftest import stack_config
from tests.e2e.backup_support import BackupHost, MariaDB, mariadb_server, temp_dir
from tests.services_cases import settings
from tools.harness import Run, run_program

FAKE_DOCKER = r"""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
containers = json.load(open(os.environ["FAKE_CONTAINERS"]))
if args[:3] != ["compose", "-p", containers["project"]] or args[3] != "exec":
    sys.exit(f"fake docker: not an exec in project {containers['project']}: {args}")
rest, extra = args[4:], {}
while rest[0].startswith("-"):
    if rest[0] == "-T":
        rest = rest[1:]
    elif rest[0] == "-e":
        name, sep, value = rest[1].partition("=")
        extra[name] = value if sep else os.environ.get(name, "")
        rest = rest[2:]
    else:
        sys.exit(f"fake docker: unsupported exec flag {rest[0]}")
service, (tool, *tool_args) = rest[0], rest[1:]
container = containers["services"][service]
# Where the container's clients find the server by default (their option
# files name its socket), this machine's need to be told.
tool_args = [*container["tool_args"], *tool_args]
os.execvpe(tool, [tool, *tool_args], {**container["env"], **extra})
"""


@dataclass
class ComposeHost:
    run: Run
    maria: MariaDB
    host: BackupHost
    log: Path
    root_password: str

    def docker_calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def _env_file(text: str) -> dict[str, str]:
    """`KEY='value'` lines as compose reads them."""
    return dict(shlex.split(line)[0].split("=", 1) for line in text.splitlines() if line)


def _container_env(run: Run, service: str, maria: MariaDB) -> dict[str, Any]:
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    svc = compose["services"][service]
    env = dict(svc.get("environment", {}))
    for path in svc.get("env_file", []):
        env |= _env_file(run.artifacts[f"compose/{path}"].text)
    # As in the container: root with an empty HOME (no ~/.my.cnf to fall back on).
    home = maria.root / "container-home"
    home.mkdir(exist_ok=True)
    return {
        "env": {**env, "PATH": os.environ["PATH"], "HOME": str(home)},
        "tool_args": [f"--socket={maria.socket}"],
    }


@pytest.fixture
def mailwizz() -> Iterator[ComposeHost]:
    config, secret_keys = stack_config("prod", set=settings("mailwizz"))
    run = run_program("prod", config, secret_keys)
    conf = run.artifacts["backup/backup.conf"].text
    body = conf.split("BACKUP_SOURCES=(", 1)[1].split(")", 1)[0]
    lines = [shlex.split(line)[0] for line in body.strip().splitlines()]
    (line,) = [line for line in lines if line.startswith("mariadb ")]
    kind, name, target, *client = line.split()

    with mariadb_server() as maria, temp_dir("compose") as root:
        container = _container_env(run, name, maria)
        password = container["env"]["MARIADB_ROOT_PASSWORD"]
        maria.set_root_password(password)
        maria.sql(f"CREATE DATABASE {target}")
        maria.sql(
            "CREATE TABLE campaigns (id INT PRIMARY KEY, subject TEXT);"
            "INSERT INTO campaigns VALUES (1, 'Spring sale'), (2, 'Newsletter');",
            target,
        )
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "docker").write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
        (bin_dir / "docker").chmod(0o755)
        containers = root / "containers.json"
        project = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)["name"]
        containers.write_text(json.dumps({"project": project, "services": {name: container}}))
        log = root / "docker.log"
        (root / "host").mkdir()
        host = BackupHost(
            root / "host",
            (BackupSource(SourceKind(kind), name, target, tuple(client)),),
            env={
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "FAKE_DOCKER_LOG": str(log),
                "FAKE_CONTAINERS": str(containers),
            },
        )
        host.ok("mailstack-backup", "init")
        yield ComposeHost(run, maria, host, log, password)


def test_rendered_mariadb_source_dumps_and_restores_with_the_containers_credentials(
    mailwizz: ComposeHost,
) -> None:
    mailwizz.host.ok("mailstack-backup")
    mailwizz.maria.sql("UPDATE campaigns SET subject = 'changed' WHERE id = 1", "mailwizz")

    mailwizz.host.ok("mailstack-restore", "latest")

    rows = mailwizz.maria.sql("SELECT id, subject FROM campaigns ORDER BY id", "mailwizz")
    assert rows.splitlines() == ["1\tSpring sale", "2\tNewsletter"]
    calls = mailwizz.docker_calls()
    tools = {c[c.index("db") + 1] for c in calls}
    assert {"mariadb-dump", "mariadb"} <= tools
    # The scratch database of the verification needs root's privileges.
    assert any("CREATE DATABASE `mailstack_verify_db`" in " ".join(c) for c in calls)
    for call in calls:
        assert mailwizz.root_password not in " ".join(call)


def test_without_the_password_in_the_container_the_dump_is_refused(
    mailwizz: ComposeHost,
) -> None:
    """The server really needs the password: the test above cannot pass by accident."""
    containers = Path(mailwizz.host.env["FAKE_CONTAINERS"])
    doc = json.loads(containers.read_text())
    del doc["services"]["db"]["env"]["MYSQL_PWD"]
    containers.write_text(json.dumps(doc))
    result = mailwizz.host.script("mailstack-backup")
    assert result.returncode != 0
    assert "Access denied for user 'root'@'localhost'" in result.stderr
