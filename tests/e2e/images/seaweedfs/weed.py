#!/usr/bin/env python3
"""Stand-in for SeaweedFS's `weed` in the e2e tests.

    weed server -dir=/data ... -s3 -s3.port=8333 -s3.config=/tmp/s3.json
    weed shell -master=storage:9333      (stdin: s3.bucket.list / s3.bucket.create -name B)

The server answers the S3 API on the S3 port (`/healthz`; GET/PUT/HEAD/DELETE
of objects; GET of a bucket lists it) and the master port (what `weed shell`
uses for buckets). Every S3 request must carry a valid AWS Signature V4, in
the Authorization header or as a presigned URL (checked with the Host header
the request arrived with, and its expiry), by an identity whose actions allow
it: `Read:<bucket>`, `Write:<bucket>`, `List:<bucket>` or `Admin`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def flags(argv: list[str]) -> dict[str, str]:
    out = {}
    for arg in argv:
        name, _, value = arg.lstrip("-").partition("=")
        out[name] = value
    return out


class Store:
    def __init__(self, data: Path, config: Path) -> None:
        self.root = data / "buckets"
        self.root.mkdir(parents=True, exist_ok=True)
        doc = json.loads(config.read_text())
        self.identities = {
            cred["accessKey"]: (cred["secretKey"], set(ident.get("actions", [])))
            for ident in doc["identities"]
            for cred in ident.get("credentials", [])
        }

    def buckets(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _quote(text: str, slash: bool = True) -> str:
    return urllib.parse.quote(text, safe="-_.~" + ("/" if slash else ""))


def verify(store: Store, method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The access key of a correctly signed request; raises PermissionError otherwise."""
    params = urllib.parse.parse_qsl(query, keep_blank_values=True)
    q = dict(params)
    if "X-Amz-Signature" in q:
        credential, signed, signature = (
            q["X-Amz-Credential"],
            q["X-Amz-SignedHeaders"],
            q["X-Amz-Signature"],
        )
        amz_date = q["X-Amz-Date"]
        start = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        if datetime.datetime.now(datetime.UTC) > start + datetime.timedelta(
            seconds=int(q["X-Amz-Expires"])
        ):
            raise PermissionError("expired")
        payload = "UNSIGNED-PAYLOAD"
        params = [(k, v) for k, v in params if k != "X-Amz-Signature"]
    else:
        auth = headers.get("authorization", "")
        m = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)",
            auth,
        )
        if not m:
            raise PermissionError("anonymous")
        credential, signed, signature = m.groups()
        amz_date = headers["x-amz-date"]
        payload = headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
    access_key, date, region, service, _ = credential.split("/")
    if access_key not in store.identities:
        raise PermissionError("unknown key")
    secret = store.identities[access_key][0]
    canonical_query = "&".join(f"{_quote(k, False)}={_quote(v, False)}" for k, v in sorted(params))
    names = signed.split(";")
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    canonical = "\n".join(
        [
            method,
            _quote(urllib.parse.unquote(path)),
            canonical_query,
            canonical_headers,
            signed,
            payload,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request"
    )
    if not hmac.compare_digest(
        hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature
    ):
        raise PermissionError("SignatureDoesNotMatch")
    return access_key


def s3_handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class S3(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status: int, body: bytes = b"", kind: str = "application/xml") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_s3(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/healthz" and self.command == "GET":
                return self.answer(200, b"", "text/plain")
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(headers.get("content-length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                key = verify(store, self.command, url.path, url.query, headers)
            except (PermissionError, KeyError, ValueError) as err:
                return self.answer(
                    403,
                    f"<Error><Code>AccessDenied</Code><Message>{err}</Message></Error>".encode(),
                )
            bucket, _, name = urllib.parse.unquote(url.path).lstrip("/").partition("/")
            action = {"GET": "Read", "HEAD": "Read", "PUT": "Write", "DELETE": "Write"}[
                self.command
            ]
            if not name and self.command == "GET":
                action = "List"
            allowed = store.identities[key][1]
            if f"{action}:{bucket}" not in allowed and "Admin" not in allowed:
                return self.answer(403, b"<Error><Code>AccessDenied</Code></Error>")
            where = store.root / bucket
            if not where.is_dir():
                return self.answer(404, b"<Error><Code>NoSuchBucket</Code></Error>")
            target = where / name.replace("/", "%2F")
            if self.command == "PUT":
                target.write_bytes(body)
                return self.answer(200)
            if self.command == "DELETE":
                target.unlink(missing_ok=True)
                return self.answer(204)
            if not name:
                items = "".join(
                    f"<Contents><Key>{p.name}</Key></Contents>" for p in sorted(where.iterdir())
                )
                return self.answer(200, f"<ListBucketResult>{items}</ListBucketResult>".encode())
            if not target.is_file():
                return self.answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return self.answer(200, target.read_bytes(), "application/octet-stream")

        do_GET = do_PUT = do_HEAD = do_DELETE = handle_s3

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    return S3


def master_handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Master(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = "".join(f"  {b}\n" for b in store.buckets()).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            name = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
            ok = re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) is not None
            if ok:
                (store.root / name).mkdir(exist_ok=True)
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    return Master


def server(opts: dict[str, str]) -> None:
    if "s3" not in opts:
        sys.exit("stand-in: only `weed server -s3` is supported")
    store = Store(Path(opts.get("dir", "/data")), Path(opts["s3.config"]))
    master = ThreadingHTTPServer(
        ("0.0.0.0", int(opts.get("master.port", "9333"))), master_handler(store)
    )
    threading.Thread(target=master.serve_forever, daemon=True).start()
    ThreadingHTTPServer(
        ("0.0.0.0", int(opts.get("s3.port", "8333"))), s3_handler(store)
    ).serve_forever()


def shell(opts: dict[str, str]) -> None:
    base = f"http://{opts['master']}/buckets"
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["s3.bucket.list"]:
            print(urllib.request.urlopen(base, timeout=10).read().decode(), end="")
        elif words[:2] == ["s3.bucket.create", "-name"] and len(words) == 3:
            request = urllib.request.Request(f"{base}/{words[2]}", method="POST")
            urllib.request.urlopen(request, timeout=10)
        elif words:
            print(f"unknown command: {words[0]}")


if __name__ == "__main__":
    command, rest = sys.argv[1], flags(sys.argv[2:])
    {"server": server, "shell": shell}.get(command, lambda _: sys.exit("usage: weed server|shell"))(
        rest
    )
