#!/usr/bin/env python3
"""Stand-in for listmonk in the e2e tests (no registry is reachable there).

Honours what the rendered compose file relies on: `--install --idempotent`,
`--upgrade`, `--config ''`, the LISTMONK_app__address / LISTMONK_db__* variables
GET /health (200 only while the database answers) and an HTML /admin page.
Like listmonk, it keeps its SMTP servers in the `settings` table (created
with listmonk's placeholder relay by `--install`), reads them once at start,
and sends through them: `POST /api/tx` mails one subscriber. Subscribers are kept
in PostgreSQL, so data written through the proxy survives `down` + `up`.
Shuts down gracefully on SIGTERM: stops accepting, finishes in-flight requests.
"""

import json
import os
import signal
import smtplib
import sys
import threading
from email.message import EmailMessage
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


# listmonk's own defaults (its schema.sql): a placeholder relay nobody can reach.
DEFAULT_SMTP = [
    {
        "enabled": True,
        "host": "smtp.yoursite.com",
        "port": 25,
        "auth_protocol": "cram",
        "username": "username",
        "password": "password",
        "tls_type": "STARTTLS",
    }
]


def install() -> None:
    """Like `--install --idempotent`: the schema and default settings, once."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS subscribers (id serial PRIMARY KEY, email text UNIQUE)"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS settings (key TEXT NOT NULL UNIQUE, "
            "value JSONB NOT NULL DEFAULT '{}', updated_at TIMESTAMPTZ DEFAULT NOW())"
        )
        cur.execute(
            "INSERT INTO settings (key, value) VALUES ('smtp', %s), ('app.from_email', %s) "
            "ON CONFLICT (key) DO NOTHING",
            (json.dumps(DEFAULT_SMTP), json.dumps("listmonk <noreply@listmonk.yoursite.com>")),
        )


def upgrade() -> None:
    """Like `--upgrade`: refuses a database without the schema. The stand-in's
    schema has a single version, so there is nothing to migrate past that."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.settings')")
        row = cur.fetchone()
        if row is None or row[0] is None:
            sys.exit("listmonk stand-in: the schema is not installed; run --install first")


def load_settings() -> dict[str, object]:
    """Read once at start, as listmonk does (its UI restarts it after a change)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT key, value FROM settings")
        return dict(cur.fetchall())


def send(settings: dict[str, object], to: str, subject: str) -> None:
    """Deliver through the first enabled SMTP server of the settings, as listmonk."""
    servers = settings["smtp"]
    assert isinstance(servers, list)
    server = next(s for s in servers if s["enabled"])
    message = EmailMessage()
    message["From"] = str(settings["app.from_email"])
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Sent by the listmonk stand-in through its SMTP settings.\n")
    connection = smtplib.SMTP_SSL if server["tls_type"] == "TLS" else smtplib.SMTP
    with connection(server["host"], int(server["port"]), timeout=10) as smtp:
        if server["tls_type"] == "STARTTLS":
            smtp.starttls()
        if server["auth_protocol"] != "none":
            smtp.login(server["username"], server["password"])
        smtp.send_message(message)


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
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/tx":
            # listmonk's transactional API: one message to one subscriber.
            try:
                send(SETTINGS, body["subscriber_email"], body.get("subject", "listmonk test"))
            except (OSError, smtplib.SMTPException) as err:
                self.reply(500, {"message": f"error sending message: {err}"})
                return
            self.reply(200, {"data": True})
            return
        if self.path != "/api/subscribers":
            self.reply(404, {"error": "not found"})
            return
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


SETTINGS: dict[str, object] = {}


def serve() -> None:
    SETTINGS.update(load_settings())
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
        upgrade()
    elif os.environ.get("STANDIN_BROKEN"):
        hang()
    else:
        serve()
