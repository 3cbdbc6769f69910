"""Run Caddy (tests/caddy.py) on a loopback port with a rendered Caddyfile, and curl it.

`caddy validate` proves a Caddyfile parses; this proves it behaves. The
Caddyfile is the renderer's output with one change: the admin endpoint is
turned off and every site binds to 127.0.0.1 (the rendered `admin
localhost:2019` would collide with any other caddy on the machine).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.caddy import CADDY

ADMIN_LINE = "\tadmin localhost:2019\n"
LOOPBACK_OPTIONS = "\tadmin off\n\tdefault_bind 127.0.0.1\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def loopback_variant(caddyfile: str) -> str:
    if caddyfile.count(ADMIN_LINE) != 1:
        raise ValueError("expected exactly one admin line in the rendered Caddyfile")
    return caddyfile.replace(ADMIN_LINE, LOOPBACK_OPTIONS)


@contextmanager
def serving(caddyfile: str, workdir: Path, port: int) -> Iterator[None]:
    """`caddy run` the loopback variant of `caddyfile` until the block exits."""
    path = workdir / "Caddyfile"
    path.write_text(loopback_variant(caddyfile))
    log = workdir / "caddy.log"
    env = {
        **os.environ,
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CADDY, "run", "--config", str(path), "--adapter", "caddyfile"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(proc, port, log)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError(f"caddy exited: {log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise RuntimeError(f"caddy never listened on {port}: {log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-cased names; the last value of a repeated header."""
    body: bytes


def curl(url: str, *options: str, host: str = "") -> Response:
    """GET `url` with curl; `host` resolves that name to 127.0.0.1 on the URL's port."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    resolve = ["--resolve", f"{host}:{port}:127.0.0.1"] if host else []
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-D", "/dev/stderr", *resolve, *options, url],
        capture_output=True,
        check=True,
    )
    lines = done.stderr.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Response(status, headers, done.stdout)
