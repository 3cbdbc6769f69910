"""The rendered Caddyfile run by Caddy (tests/caddy.py) on loopback: it does what it says."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.mail_records import mta_sts_policy
from components.services.caddyfile import Route, Site, render_caddyfile
from components.services.presets import build_app
from mailstack.config import AppPreset
from tests.caddy_loopback import curl, free_port, serving
from tests.services_cases import app_params

LISTMONK = build_app(app_params(preset=AppPreset.LISTMONK, image="", port=9000))


class _Upstream(BaseHTTPRequestHandler):
    body = b"upstream"

    def do_GET(self) -> None:
        body = self.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


class _Exporter(_Upstream):
    body = b"exporter"


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def upstream() -> Iterator[int]:
    """A loopback HTTP server standing in for the app; yields its port."""
    with _serving(_Upstream) as port:
        yield port


@pytest.fixture
def exporter() -> Iterator[int]:
    """A loopback HTTP server standing in for node_exporter; yields its port."""
    with _serving(_Exporter) as port:
        yield port


def _server_site(port: int, upstream: int, **fields: object) -> Site:
    """The listmonk site as on a server, but on plain HTTP and proxying to `upstream`."""
    defaults: dict[str, object] = {
        "project": "mailstack-test",
        "app_host": f"http://127.0.0.1:{port}",
        "routes": (Route("127.0.0.1", upstream),),
        "admin_paths": LISTMONK.admin_paths,
        "public_paths": LISTMONK.public_paths,
        "admin_cidrs": ("192.0.2.0/24",),
    }
    return Site(**{**defaults, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("admin_cidrs", "admin_status"), [(("192.0.2.0/24",), 403), (("127.0.0.1/32",), 200)]
)
def test_admin_paths_answer_only_admin_sources(
    tmp_path: Path, upstream: int, admin_cidrs: tuple[str, ...], admin_status: int
) -> None:
    port = free_port()
    site = _server_site(port, upstream, admin_cidrs=admin_cidrs)
    with serving(render_caddyfile(site), tmp_path, port):
        for path in ("/admin", "/admin/campaigns", "/api/subscribers"):
            response = curl(f"http://127.0.0.1:{port}{path}")
            assert response.status == admin_status, path
            if admin_status == 200:
                assert response.body == b"upstream", path
        for path in ("/", "/api/public/subscription", "/subscription/form"):
            response = curl(f"http://127.0.0.1:{port}{path}")
            assert (response.status, response.body) == (200, b"upstream"), path


@pytest.mark.parametrize(
    ("admin_cidrs", "admin"), [(("192.0.2.0/24",), False), (("127.0.0.1/32",), True)]
)
def test_metrics_answer_only_admin_sources(
    tmp_path: Path, upstream: int, exporter: int, admin_cidrs: tuple[str, ...], admin: bool
) -> None:
    port = free_port()
    site = _server_site(
        port, upstream, admin_cidrs=admin_cidrs, metrics=Route("127.0.0.1", exporter)
    )
    url = f"http://127.0.0.1:{port}/metrics"
    with serving(render_caddyfile(site), tmp_path, port):
        response = curl(url)
        if admin:
            assert (response.status, response.body) == (200, b"exporter")
        else:
            assert (response.status, response.body) == (403, b"Forbidden")
            # The check is on the connection's address, not on what the client claims.
            spoofed = curl(url, "-H", "X-Forwarded-For: 192.0.2.10")
            assert spoofed.status == 403
        # Everything else still reaches the app.
        assert curl(f"http://127.0.0.1:{port}/").body == b"upstream"


def test_the_mta_sts_host_serves_exactly_the_policy(tmp_path: Path, upstream: int) -> None:
    policy = mta_sts_policy("enforce", ["mail.example.com"])
    root = tmp_path / "mta-sts"
    (root / ".well-known").mkdir(parents=True)
    (root / ".well-known" / "mta-sts.txt").write_bytes(policy.encode())
    port = free_port()
    host = "mta-sts.example.com"
    site = _server_site(
        port, upstream, mta_sts_host=f"http://{host}:{port}", mta_sts_root=str(root)
    )
    with serving(render_caddyfile(site), tmp_path, port):
        response = curl(f"http://{host}:{port}/.well-known/mta-sts.txt", host=host)
        assert response.status == 200
        assert response.body == policy.encode()  # byte for byte, CRLF line ends included
        assert response.headers["content-type"] == "text/plain"
        for path in ("/", "/.well-known/", "/.well-known/other.txt", "/mta-sts.txt"):
            assert curl(f"http://{host}:{port}{path}", host=host).status == 404, path
        # The app's host is unaffected.
        assert curl(f"http://127.0.0.1:{port}/").body == b"upstream"


def test_backup_health_is_503_exactly_while_the_stale_marker_exists(
    tmp_path: Path, upstream: int
) -> None:
    status = tmp_path / "status"
    status.mkdir()
    port = free_port()
    site = _server_site(port, upstream, backup_status_root=str(status))
    url = f"http://127.0.0.1:{port}/healthz/backup"
    with serving(render_caddyfile(site), tmp_path, port):
        missing = curl(url)
        assert missing.status == 503
        assert json.loads(missing.body)["status"] == "unknown"
        report = b'{"status": "ok", "lastSuccess": "2025-05-01T03:15:00Z"}\n'
        (status / "backup.json").write_bytes(report)
        for stale, expected in ((False, 200), (True, 503), (False, 200)):
            marker = status / "backup.stale"
            if stale:
                marker.touch()
            else:
                marker.unlink(missing_ok=True)
            response = curl(url)
            assert (response.status, response.body) == (expected, report), stale
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["content-type"] == "application/json"
        # Public even though /api/* and /admin are not (this source is no admin).
        assert curl(f"http://127.0.0.1:{port}/admin").status == 403
