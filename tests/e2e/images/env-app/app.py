#!/usr/bin/env python3
"""Stand-in app for the e2e tests of the app environment, Redis and S3 wiring.

GET /healthz                 200
GET /env                     the whole environment, as JSON (tests only!)
GET /redis                   SET then GET a key through REDIS_URL
GET /presign?key=K&method=M[&bucket=B]
                             a presigned URL (M: put or get) for S3_PUBLIC_ENDPOINT,
                             signed with the app's key (bucket: S3_BUCKET)
GET /sqlite                  rows committed so far to each of SQLITE_FILES
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMITTED: dict[str, int] = {}


def writer(path: str) -> None:
    """Commit a row every few milliseconds for as long as the app runs."""
    db = sqlite3.connect(path, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS writes (n INTEGER PRIMARY KEY, at REAL)")
    while True:
        with db:
            cur = db.execute("INSERT INTO writes (at) VALUES (?)", (time.time(),))
        COMMITTED[path] = int(cur.lastrowid or 0)
        time.sleep(0.01)


def presign(key: str, method: str, bucket: str) -> str:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_PUBLIC_ENDPOINT"],
        region_name=os.environ["S3_REGION"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    operation = {"put": "put_object", "get": "get_object"}[method]
    params = {"Bucket": bucket or os.environ["S3_BUCKET"], "Key": key}
    return str(client.generate_presigned_url(operation, Params=params, ExpiresIn=300))


class Handler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path.removeprefix("/api")
        try:
            if path in ("/healthz", "/health", "/"):
                self.reply(200, {"app": "env-app stand-in"})
            elif path == "/env":
                self.reply(200, dict(os.environ))
            elif path == "/redis":
                import redis

                client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
                client.set("mailstack-e2e", "ok")
                self.reply(200, {"value": client.get("mailstack-e2e").decode()})
            elif path == "/db":
                import psycopg2

                with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
                    cur = conn.cursor()
                    cur.execute("SELECT current_user")
                    self.reply(200, {"user": cur.fetchone()[0]})
            elif path == "/presign":
                self.reply(
                    200,
                    {
                        "url": presign(
                            query["key"], query.get("method", "get"), query.get("bucket", "")
                        )
                    },
                )
            elif path == "/sqlite":
                self.reply(200, COMMITTED)
            else:
                self.reply(404, {"error": "not found"})
        except Exception as err:  # the test reads the reason
            self.reply(500, {"error": f"{type(err).__name__}: {err}"})

    def log_message(self, fmt: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    for file in filter(None, os.environ.get("SQLITE_FILES", "").split(",")):
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=writer, args=(file,), daemon=True).start()
    port = int(os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
