#!/usr/bin/env python3
"""Stand-in for Mailpit in the e2e tests: an SMTP sink on 1025 and a web UI
(GET / and /api/v1/messages) plus /readyz on 8025. Messages stay in memory."""

import asyncore
import json
import smtpd
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES: list[dict[str, object]] = []


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):  # type: ignore[no-untyped-def]
        MESSAGES.append({"from": mailfrom, "to": rcpttos, "size": len(data)})


class Ui(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/readyz":
            body, kind = b"ok", "text/plain"
        elif self.path == "/api/v1/messages":
            body, kind = json.dumps({"messages": MESSAGES}).encode(), "application/json"
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
