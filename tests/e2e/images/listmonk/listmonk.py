#!/usr/bin/env python3
"""Stand-in for listmonk in the e2e tests (no registry is reachable there).

Honours what the rendered compose file relies on: `--install --idempotent`,
`--upgrade`, `--config ''`, the LISTMONK_app__address / LISTMONK_db__* variables
GET /health (200 only while the database answers) and an HTML /admin page. Subscribers are kept
in PostgreSQL, so data written through the proxy survives `down` + `up`.
Shuts down gracefully on SIGTERM: stops accepting, finishes in-flight requests.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

VERSION = os.environ.get("STANDIN_VERSION", "dev")


def connect():  # type: ignore[no-untyped-def]
    env = os.environ
    return psycopg2.connect(
        host=env["LISTMONK_db__host"],
        port=int(env.get("LISTMONK_db__port", "5432")),
        user=env["LISTMONK_db__user"],
        password=env["LISTMONK_db__password"],
        dbname=env["LISTMONK_db__database"],
        sslmode=env.get("LISTMONK_db__ssl_mode", "disable"),
        connect_timeout=3,
    )


def install() -> None:
    with connect() as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS subscribers (id serial PRIMARY KEY, email text UNIQUE)"
        )


# Like listmonk's admin: an HTML shell big enough for the proxy to compress.
ADMIN_PAGE = (
    "<!doctype html><html><head><title>listmonk</title></head><body><div id=app></div>"
    + "".join(f"<p>stand-in admin line {i}</p>" for i in range(200))
    + "</body></html>"
).encode()


class Handler(BaseHTTPRequestHandler):
    def page(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", VERSION)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            try:
                with connect() as conn, conn.cursor() as cur:
                    cur.execute("SELECT 1")
                self.reply(200, {"data": True})
            except psycopg2.Error as err:
                self.reply(503, {"error": str(err)})
        elif self.path == "/admin":
            self.page(ADMIN_PAGE)
        elif self.path == "/api/subscribers":
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT email FROM subscribers ORDER BY id")
                self.reply(200, {"data": [row[0] for row in cur.fetchall()]})
        else:
            self.reply(200, {"app": "listmonk stand-in", "version": VERSION})

    def do_POST(self) -> None:
        if self.path != "/api/subscribers":
            self.reply(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with connect() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO subscribers (email) VALUES (%s) ON CONFLICT DO NOTHING",
                (body["email"],),
            )
        self.reply(201, {"data": body["email"]})

    def log_message(self, fmt: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for in-flight requests


def hang() -> None:
    """A broken release: never listens, so it never turns healthy; stops on SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def serve() -> None:
    # listmonk reads its config keys from mixed-case variables.
    address = os.environ.get("LISTMONK_app__address", "0.0.0.0:9000")  # noqa: SIM112
    host, _, port = address.rpartition(":")
    server = Server((host, int(port)), Handler)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever(poll_interval=0.05)
    server.socket.close()  # refuse new connections at once
    server.server_close()


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--install" in args:
        install()
    elif "--upgrade" in args:
        pass  # the stand-in's schema has nothing to migrate
    elif os.environ.get("STANDIN_BROKEN"):
        hang()
    else:
        serve()
