"""Image names every layer shares: the stand-ins' namespace.

The test stand-ins (tests/e2e/images) are built locally from Debian packages.
They are named under this namespace, never with an official image's name, so
nothing a test builds can be taken for the real image by `docker compose`.
"""

from __future__ import annotations

STANDIN_NAMESPACE = "mailstack-standin"
"""Used as an image mirror: `caddy:2.11.7` runs as `mailstack-standin/library/caddy:2.11.7`."""
STANDIN_LABEL = "org.mailstack.standin"
"""OCI label every stand-in image carries (value `true`)."""
