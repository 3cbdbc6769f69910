"""Drive the rendered `local` stack on the real Docker engine (e2e tests and bench).

The stack is synthesised exactly as `make local` does (offline synth, then
real local passwords in place of the placeholders) into a private directory,
under its own compose project name and ports, so it never collides with a
developer's own `make local`.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import stack_config
from tests.e2e.images.build import STANDIN_CONFIG, build_all
from tools.harness import run_program
from tools.local import fill_secrets
from tools.synth import write_build


@dataclass
class LocalStack:
    root: Path
    """Working directory: the deploy steps `cd build/local/compose` from here."""
    project: str = "mailstack-e2e-services"
    http_port: int = 18480
    mail_ui_port: int = 18425
    storage_port: int = 18433
    """The object store's S3 API through the proxy (with `storage`)."""
    settings: dict[str, Any] = field(default_factory=lambda: {"redis": True, "storage": True})
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret config values (as `pulumi config set --secret`)."""

    @property
    def compose_dir(self) -> Path:
        return self.root / "build" / "local" / "compose"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "COMPOSE_PROJECT_NAME": self.project}

    def synth(self, program: Callable[[], None] | None = None, **extra: Any) -> None:
        """Render the local stack (with `extra` config keys) and fill its passwords.

        `program` replaces __main__.py, as in `run_program`. The images are the
        stand-ins', through the image-mirror setting a user would set.
        """
        settings = {
            **STANDIN_CONFIG,
            **self.settings,
            "localHttpPort": self.http_port,
            "localMailUiPort": self.mail_ui_port,
            "localStoragePort": self.storage_port,
            **extra,
        }
        config, secret_keys = stack_config("local", set=settings, secrets=self.secrets)
        run = run_program("local", config, secret_keys, program=program)
        write_build(run, self.root / "build" / "local")
        fill_secrets(self.compose_dir, self.root / "secrets.json")

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", "compose", "-f", str(self.compose_dir / "compose.yaml"), *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if check and done.returncode:
            raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr[-3000:]}")
        return done

    def up(self) -> float:
        """`docker compose up -d --wait`; returns seconds until every service is healthy."""
        start = time.monotonic()
        self.compose("up", "-d", "--wait")
        return time.monotonic() - start

    def down(self, volumes: bool = False) -> None:
        self.compose("down", *(["-v"] if volumes else []), check=False)

    def run_step(self, script: str) -> None:
        """Run one of the published steps (`deploy/<script>`) as Pulumi would."""
        done = subprocess.run(
            ["sh", str(self.compose_dir / "deploy" / script)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{script}: {done.stderr[-3000:]}")

    def write_files(self) -> None:
        """Run the files step as an update runs it."""
        self.run_step("files.sh")

    def volumes(self) -> set[str]:
        out = subprocess.run(
            [
                "docker",
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return set(out.split())

    def running(self) -> list[str]:
        """Ids of the project's running containers."""
        out = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()

    def deploy(self, service: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the deploy path: the files step, then the service's step with its env file."""
        deploy = self.compose_dir / "deploy"
        self.write_files()
        env_file = self.compose_dir / "env" / f"{service}.env"
        stdin = env_file.read_text() if env_file.exists() else ""
        done = subprocess.run(
            ["sh", str(deploy / f"{service}.sh")],
            cwd=self.root,
            env=self.env,
            input=stdin,
            text=True,
            capture_output=True,
        )
        if check and done.returncode:
            raise RuntimeError(f"deploy {service}: {done.stderr[-3000:]}")
        return done

    def containers(self, service: str) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        if not ids:
            return []
        out = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
        result: list[dict[str, Any]] = json.loads(out)
        return result

    def services(self) -> list[str]:
        return self.compose("config", "--services").stdout.split()

    def get(
        self, path: str, timeout: float = 10, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{self.app_url}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def post_json(self, path: str, body: dict[str, Any]) -> int:
        request = urllib.request.Request(
            f"{self.app_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    slowest: float = 0.0
    """Longest request, in seconds: how long the proxy held a request during the switch."""
    versions: set[str] = field(default_factory=set)


def requests_during(
    stack: LocalStack, action: Any, max_seconds: float = 180, max_requests: int = 50_000
) -> LoadResult:
    """GET the app through the proxy in a loop while `action()` runs; count failures.

    Bounded by `max_requests` and `max_seconds`, on loopback only.
    """
    result = LoadResult()
    deadline = time.monotonic() + max_seconds

    def request() -> bool:
        if result.requests >= max_requests or time.monotonic() > deadline:
            return False
        result.requests += 1
        start = time.monotonic()
        try:
            status, headers, _ = stack.get("/", timeout=15)
            result.versions.add(headers.get("X-App-Version", ""))
            if status != 200:
                result.failures += 1
        # A connection the proxy closes mid-response is an HTTPException, not an OSError.
        except (OSError, http.client.HTTPException):
            result.failures += 1
        result.slowest = max(result.slowest, time.monotonic() - start)
        return True

    repeat_during(action, request)
    return result


def repeat_during(action: Callable[[], Any], step: Callable[[], bool]) -> None:
    """Call `step()` over and over on a thread of its own while `action()` runs
    on this one, until the action ends or `step` returns False; the thread has
    finished when this returns."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set() and step():
            pass

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        action()
    finally:
        done.set()
        thread.join()


@contextmanager
def running(stack: LocalStack) -> Iterator[LocalStack]:
    """`stack` rendered and up on the stand-in images, from empty volumes; down,
    with its volumes, afterwards (a module's fixture)."""
    build_all()
    stack.down(volumes=True)
    stack.synth()
    stack.up()
    try:
        yield stack
    finally:
        stack.down(volumes=True)
