#!/usr/bin/env python3
"""Stand-in for MinIO's `mc`: `ready local`, `alias set`, `mb --ignore-existing`."""

import json
import sys
import urllib.request
from pathlib import Path

ALIASES = Path.home() / ".mc" / "standin-aliases.json"


def aliases() -> dict[str, list[str]]:
    return json.loads(ALIASES.read_text()) if ALIASES.exists() else {}


def main(args: list[str]) -> int:
    if args[:1] == ["ready"]:
        with urllib.request.urlopen("http://127.0.0.1:9000/minio/health/ready", timeout=3) as r:
            return 0 if r.status == 200 else 1
    if args[:2] == ["alias", "set"]:
        name, url, user, password = args[2:6]
        ALIASES.parent.mkdir(parents=True, exist_ok=True)
        ALIASES.write_text(json.dumps({**aliases(), name: [url, user, password]}))
        print(f"Added `{name}` successfully.")
        return 0
    if args[:1] == ["mb"]:
        target = next(a for a in args[1:] if not a.startswith("--"))
        name, bucket = target.split("/", 1)
        url, user, password = aliases()[name]
        request = urllib.request.Request(
            f"{url}/{bucket}", method="PUT", headers={"X-Standin-Auth": f"{user}:{password}"}
        )
        with urllib.request.urlopen(request, timeout=5):
            print(f"Bucket created successfully `{target}`.")
        return 0
    print(f"mc stand-in: unsupported {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
