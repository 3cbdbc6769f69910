"""The service steps' templates carry any value as one literal word.

Each template (assets/services/*.sh.j2) is rendered directly with names no
config would let through (quotes, spaces, `$(...)`, globs), then run by a real
`sh` and `bash` against stand-in `docker` and `sudo` commands that record their
arguments: every value must reach its command as exactly one argument, the
files must land at exactly their names, and nothing in a value may run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from common import encode
from components.services.caddyfile import TEMPLATES
from components.templates import environment

# Each one would break out of the old hand-written '...' or "${X:-...}".
HOSTILE = 'it\'s a "name" $(touch pwned) `touch pwned` ;touch pwned; $HOME *'
SERVICE = f"svc {HOSTILE}"
PROJECT = f"proj {HOSTILE}"
NAME = f"vol {HOSTILE}"
OWNER = "4242:4242"  # not the test's own uid:gid, so the step hands the directory over
# A stand-in that records its name and arguments, NUL-separated, one call a
# line; under a lock, as the pull step runs several at once.
RECORDER = """#!/bin/sh
exec 9>>"$CALLS"
flock 9
printf '%s\\0' "$(basename "$0")" "$@" >&9
printf '\\n' >&9
"""
# mailstack-release, as the deploy step runs it, with the environment it is given.
RELEASE_RECORDER = """exec 9>>"$CALLS"
printf '%s\\0' release "$RELEASES_DIR" "$BACKUP_BIN" "$MIGRATION_CONSUMER" "$@" >&9
printf '\\n' >&9
"""
SHELLS = ("sh", "bash")
Call = tuple[str, ...]


def render(template: str, **context: object) -> str:
    return environment(TEMPLATES).get_template(template).render(**context)


def run(shell: str, script: str, tmp_path: Path, stdin: str = "") -> list[Call]:
    """Run `script` with the stand-ins first on PATH; the calls they recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("docker", "sudo"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE_PROJECT_NAME"}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "CALLS": str(calls)}
    done = subprocess.run(
        [shell, "-c", script], input=stdin, env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("pwned")), "a value ran as a command"
    return [tuple(line.split("\0")) for line in calls.read_text().split("\0\n")[:-1]]


def without_format(calls: list[Call]) -> list[Call]:
    """The calls, less `docker volume inspect`'s Go template (not a value)."""
    return [c[:3] + c[5:] if c[1:3] == ("volume", "inspect") else c for c in calls]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_deploy_step_passes_each_value_as_one_word(shell: str, tmp_path: Path) -> None:
    directory = tmp_path / f"dir {HOSTILE}"
    volume = tmp_path / f"data {HOSTILE}"
    env_file = f"env/{SERVICE}.env"
    releases = {
        "releases_dir": f"../releases {HOSTILE}",
        "backup_bin": f"/bin {HOSTILE}",
        "migrates": False,
        "consumer": "1",
    }
    script = render(
        "deploy.sh.j2",
        service=SERVICE,
        project=PROJECT,
        dir=str(directory),
        definition_hash=HOSTILE,
        env_file=env_file,
        volume_dirs=[(NAME, str(volume))],
        volume_owner=OWNER,
        job=False,
        start_first=False,
        release=releases,
    )
    directory.mkdir()
    (directory / "mailstack-release").write_text(RELEASE_RECORDER)
    calls = run(shell, script, tmp_path, stdin="SECRET='x'\n")
    release = ("release", releases["releases_dir"], releases["backup_bin"], "1")
    assert without_format(calls) == [
        ("sudo", "-n", "chown", OWNER, str(volume)),
        ("docker", "volume", "inspect", f"{PROJECT}_{NAME}"),
        (*release, "begin", SERVICE),
        ("docker", "compose", "up", "--no-start", "--no-deps", SERVICE),
        ("docker", "compose", "up", "-d", "--no-deps", "--wait", SERVICE),
        (*release, "commit", SERVICE),
    ]
    assert volume.is_dir()
    assert (directory / env_file).read_text() == "SECRET='x'\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_deploy_step_reports_a_volume_bound_elsewhere_by_its_names(
    shell: str, tmp_path: Path
) -> None:
    directory = tmp_path / f"dir {HOSTILE}"
    directory.mkdir()
    volume = str(tmp_path / f"data {HOSTILE}")
    script = render(
        "deploy.sh.j2",
        service=SERVICE,
        project=PROJECT,
        dir=str(directory),
        definition_hash="h",
        env_file="",
        volume_dirs=[(NAME, volume)],
        volume_owner="",
        job=True,
        start_first=False,
        release=None,
    )
    # `docker volume inspect` answers with another bind path: the step stops.
    stand_in = "docker() { echo /elsewhere; }\n"
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE_PROJECT_NAME"}
    done = subprocess.run(
        [shell, "-c", stand_in + script], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert not list(tmp_path.rglob("pwned")), "a value ran as a command"
    assert done.returncode == 1
    assert done.stderr == (
        f"volume {NAME} is bound to /elsewhere, not {volume}: stop the service, move the data,"
        " then docker volume rm the volume\n"
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_the_files_step_writes_files_at_exactly_their_names(shell: str, tmp_path: Path) -> None:
    directory = tmp_path / f"dir {HOSTILE}"
    files: Mapping[str, str] = {
        f"sub {HOSTILE}/file {HOSTILE}": f"{HOSTILE}\nMAILSTACK_EOF \n'MAILSTACK_EOF'\n",
        "plain.txt": "a\r\nb\n",
    }
    env_file = f"env/{SERVICE}.env"
    script = render(
        "files.sh.j2",
        project=PROJECT,
        dir=str(directory),
        files=sorted(files.items()),
        env_files=[env_file],
        create=True,
        generation="abc123",
    )
    calls = run(shell, script, tmp_path)
    assert calls == [
        ("docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
    ]
    for path, text in files.items():
        assert (directory / path).read_bytes() == text.encode()
    assert (directory / env_file).read_text() == ""
    assert (directory / ".files-generation").read_text() == "abc123\n"
    written = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    assert written == {*files, env_file, ".files-generation"}


def test_the_files_step_refuses_a_file_its_heredoc_would_cut_short() -> None:
    for text in ("a\nMAILSTACK_EOF\nb\n", "no line break at the end"):
        with pytest.raises(encode.UnencodableError, match="heredoc"):
            render(
                "files.sh.j2",
                project="p",
                dir="/srv/c",
                files=[("f", text)],
                env_files=[],
                create=False,
                generation="",
            )


@pytest.mark.parametrize("shell", SHELLS)
def test_the_down_step_stops_exactly_its_project(shell: str, tmp_path: Path) -> None:
    directory = tmp_path / f"dir {HOSTILE}"
    directory.mkdir()
    (directory / ".files-generation").write_text("abc123\n")
    script = render("down.sh.j2", project=PROJECT, dir=str(directory), generation="abc123")
    calls = run(shell, script, tmp_path)
    assert calls == [("docker", "compose", "-p", PROJECT, "down", "--remove-orphans")]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_remove_step_removes_exactly_its_service(shell: str, tmp_path: Path) -> None:
    directory = tmp_path / f"dir {HOSTILE}"
    (directory / "env").mkdir(parents=True)
    (directory / "env" / f"{SERVICE}.env").write_text("SECRET=x\n")
    (directory / "env" / "other.env").write_text("SECRET=y\n")
    script = render("remove.sh.j2", service=SERVICE, project=PROJECT, dir=str(directory))
    calls = run(shell, script, tmp_path)
    assert calls == [
        ("docker", "compose", "config", "--services"),
        (
            "docker",
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={SERVICE}",
        ),
    ]
    assert [p.name for p in (directory / "env").iterdir()] == ["other.env"]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_pull_step_pulls_each_reference_as_one_word(shell: str, tmp_path: Path) -> None:
    script = render("pull.sh.j2", project=PROJECT, refs=[HOSTILE, "plain:1"])
    calls = run(shell, script, tmp_path)
    # Pulls run side by side: their order is the scheduler's.
    assert sorted(calls) == sorted(
        ("docker", "image", "inspect", ref) for ref in (HOSTILE, "plain:1")
    )


@pytest.mark.parametrize("template", ["deploy.sh.j2", "down.sh.j2", "files.sh.j2", "remove.sh.j2"])
def test_a_line_break_in_a_commented_name_is_refused(template: str) -> None:
    """The header comments name the project: a line break there would start a command."""
    context = {
        "service": "app",
        "project": "p\ntouch pwned",
        "dir": "/srv/c",
        "definition_hash": "h",
        "env_file": "",
        "volume_dirs": [],
        "volume_owner": "",
        "job": False,
        "start_first": False,
        "release": None,
        "files": [],
        "env_files": [],
        "create": False,
        "generation": "",
    }
    with pytest.raises(encode.UnencodableError, match="comment"):
        render(template, **context)
