#!/usr/bin/env python3
"""Stand-in for Mailpit in the e2e tests: an SMTP sink on 1025 and a web UI
(GET / and /api/v1/messages) plus /readyz on 8025. Messages stay in memory."""

import asyncore
import email
import json
import smtpd
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES: list[dict[str, object]] = []


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(data)
        # The summary fields of Mailpit's GET /api/v1/messages.
        MESSAGES.append(
            {
                "ID": str(len(MESSAGES) + 1),
                "From": {"Name": "", "Address": mailfrom},
                "To": [{"Name": "", "Address": r} for r in rcpttos],
                "Subject": message["Subject"] or "",
                "Size": len(data),
            }
        )


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


if __name__ == "__main__":
    Sink(("0.0.0.0", 1025), None)
    threading.Thread(target=asyncore.loop, daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", 8025), Ui).serve_forever()
