"""The Caddy the tests check Caddyfiles with is the one the stacks run."""

from __future__ import annotations

import subprocess

from components.services import kinds
from tests.caddy import CADDY


def test_the_tests_caddy_is_the_stacks_caddy() -> None:
    version = subprocess.run([CADDY, "version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[0] == f"v{kinds.CADDY.tag}"
