"""A fake JSON HTTP API on localhost, for the tests that point a script at a cloud API.

Each test subclasses `JsonApi` with its own `do_GET`/`do_DELETE` and records what
it was asked through `record()`. `serve()` runs it on a free port until the test ends.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Recorder(Protocol):
    """What a fake keeps of the requests: every request and every Authorization value."""

    requests: list[tuple[str, str, dict[str, list[str]]]]
    tokens: set[str]


class JsonApi(http.server.BaseHTTPRequestHandler):
    fake: Recorder

    def record(self) -> tuple[str, dict[str, list[str]]]:
        """The request's path and query, after noting the request and its token."""
        parsed = urllib.parse.urlparse(self.path)
        self.fake.tokens.add(self.headers.get("Authorization", ""))
        query = urllib.parse.parse_qs(parsed.query)
        self.fake.requests.append((self.command, parsed.path, query))
        return parsed.path, query

    def reply(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(handler: type[JsonApi], fake: Recorder) -> Iterator[str]:
    """Run `handler` for `fake` on a free localhost port; yields its base address."""
    handler.fake = fake
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
