#!/usr/bin/env python3
"""Stand-in for `minio server /data ...` in the e2e tests: health endpoints,
and buckets as directories (PUT /<bucket> with the root credentials)."""

import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(sys.argv[2] if len(sys.argv) > 2 else "/data")
CREDENTIALS = f"{os.environ['MINIO_ROOT_USER']}:{os.environ['MINIO_ROOT_PASSWORD']}"


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.answer(200 if self.path.startswith("/minio/health/") else 404)

    def do_PUT(self) -> None:
        bucket = self.path.strip("/")
        if self.headers.get("X-Standin-Auth") != CREDENTIALS:
            self.answer(403)
        elif not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,62}", bucket):
            self.answer(400)
        else:
            (DATA / bucket).mkdir(exist_ok=True)
            self.answer(200)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    if sys.argv[1:2] != ["server"]:
        sys.exit(f"usage: minio server DIR (got {sys.argv[1:]})")
    DATA.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer(("0.0.0.0", 9000), Handler).serve_forever()
