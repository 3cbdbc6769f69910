#!/usr/bin/env python3
"""Stand-in for Mailpit in the e2e tests: an SMTP sink on 1025 and a web UI
(GET / and /api/v1/messages) plus /readyz on 8025. Messages stay in memory.

As Mailpit does, it offers STARTTLS when MP_SMTP_TLS_CERT and MP_SMTP_TLS_KEY
name a certificate and its key (PEM files), and accepts plain SMTP either way."""

import datetime
import email
import json
import os
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict[str, object]] = []


class Sink:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802 (aiosmtpd's hook)
        message = email.message_from_bytes(envelope.content)
        # The summary fields of Mailpit's GET /api/v1/messages.
        MESSAGES.append(
            {
                "ID": str(len(MESSAGES) + 1),
                "From": {"Name": "", "Address": envelope.mail_from},
                "To": [{"Name": "", "Address": r} for r in envelope.rcpt_tos],
                "Subject": message["Subject"] or "",
                "Size": len(envelope.content),
                # When it arrived (RFC 3339, as Mailpit's): the e2e measures alert latency with it.
                "Created": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            }
        )
        return "250 OK"


class Ui(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/readyz":
            body, kind = b"ok", "text/plain"
        elif self.path == "/api/v1/messages":
            listing = {"total": len(MESSAGES), "messages": MESSAGES[::-1]}  # newest first
            body, kind = json.dumps(listing).encode(), "application/json"
        else:
            body, kind = (
                f"<h1>Mailpit stand-in</h1><p>{len(MESSAGES)} messages</p>".encode(),
                "text/html",
            )
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def starttls() -> ssl.SSLContext | None:
    cert, key = os.environ.get("MP_SMTP_TLS_CERT"), os.environ.get("MP_SMTP_TLS_KEY")
    if not (cert and key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


if __name__ == "__main__":
    # Any client may send, as with MP_SMTP_AUTH_ACCEPT_ANY (no AUTH is needed here).
    smtp = Controller(
        Sink(), hostname="0.0.0.0", port=1025, tls_context=starttls(), require_starttls=False
    )
    smtp.start()
    ThreadingHTTPServer(("0.0.0.0", 8025), Ui).serve_forever()
