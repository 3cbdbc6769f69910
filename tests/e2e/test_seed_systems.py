"""The SelfMX-style and zigznote-style examples' wiring on a real engine, with stand-ins.

The app is `ENV_APP` (tests/e2e/images/env-app, run as its stand-in): it reports
its environment, talks to Redis and PostgreSQL with the URLs it was given and
presigns S3 URLs with botocore for its public endpoint; the store is the
SeaweedFS stand-in, which checks SigV4 and the key's bucket scope.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.images.build import ENV_APP
from tests.e2e.localstack import LocalStack, running

# On the Docker worker with the other engine tests: beside them it would load
# the machine their timing-sensitive checks run on.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRETS = {"API_KEY_HASH": "hash$with-dollar-7f3", "CLOUDFLARE_API_TOKEN": "cf-tok-19ab"}
SQLITE_FILES = ("/data/selfmx.db", "/data/jobs/hangfire.db")


def _json(stack: LocalStack, path: str) -> Any:
    status, _, body = stack.get(path, timeout=30)
    assert status == 200, body[-500:]
    return json.loads(body)


def _seed_system(
    factory: pytest.TempPathFactory,
    name: str,
    settings: dict[str, Any],
    secrets: dict[str, str] | None = None,
    **ports: int,
) -> Iterator[LocalStack]:
    """The seed system `name` on `ENV_APP`, up for the module's tests, under a
    project and on host ports of its own: the monitoring and release e2e
    modules may still hold theirs on the same worker."""
    app = {"appImage": ENV_APP, "appPort": 8000, "appHealthPath": "/healthz"}
    stack = LocalStack(
        factory.mktemp(f"{name}-e2e"),
        project=f"mailstack-e2e-{name}",
        settings={**app, **settings},
        secrets=secrets or {},
        **ports,
    )
    with running(stack):
        yield stack


@pytest.fixture(scope="module")
def selfmx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from _seed_system(
        tmp_path_factory,
        "selfmx",
        http_port=19180,
        mail_ui_port=19125,
        storage_port=19133,
        settings={
            "app": "transactional-api",
            "redis": True,
            "appEnv": [
                "LOG_LEVEL=debug",
                "PRICE=$5 ${HOME}",
                f"SQLITE_FILES={','.join(SQLITE_FILES)}",
            ],
            "appDataPaths": ["/data"],
            "appSqliteFiles": list(SQLITE_FILES),
        },
        secrets={"appSecretEnv": json.dumps(SECRETS)},
    )


def test_the_app_sees_its_plain_and_secret_variables_as_written(selfmx: LocalStack) -> None:
    env = _json(selfmx, "/env")
    assert env["LOG_LEVEL"] == "debug"
    assert env["PRICE"] == "$5 ${HOME}"  # literally: compose interpolated nothing
    for name, value in SECRETS.items():
        assert env[name] == value
    compose = (selfmx.compose_dir / "compose.yaml").read_text()
    assert not any(value in compose for value in SECRETS.values())
    env_file = selfmx.compose_dir / "env" / "app.env"
    assert env_file.stat().st_mode & 0o077 == 0


def test_the_app_reaches_redis_with_the_url_it_was_given(selfmx: LocalStack) -> None:
    assert _json(selfmx, "/redis") == {"value": "ok"}
    # The password in the URL is what lets it in: Redis refuses a client without one.
    done = selfmx.compose("exec", "-T", "redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in done.stdout + done.stderr


def test_both_sqlite_files_are_written_on_the_data_volume(selfmx: LocalStack) -> None:
    first = _json(selfmx, "/sqlite")
    time.sleep(1)
    later = _json(selfmx, "/sqlite")
    for file in SQLITE_FILES:
        assert later[file] > first.get(file, 0), file
    (container,) = selfmx.containers("app")
    mounts = {m["Destination"]: m for m in container["Mounts"]}
    assert mounts["/data"]["Type"] == "volume"


@pytest.fixture(scope="module")
def zigznote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from _seed_system(
        tmp_path_factory,
        "zigznote",
        http_port=19280,
        mail_ui_port=19225,
        storage_port=19233,
        settings={
            "app": "web-api",
            "appWebImage": ENV_APP,
            "storageBuckets": ["uploads", "exports"],
        },
    )


def _http(method: str, url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_api_reaches_postgres_and_redis_with_its_urls(zigznote: LocalStack) -> None:
    assert _json(zigznote, "/api/db") == {"user": "app"}
    assert _json(zigznote, "/api/redis") == {"value": "ok"}


def test_uploads_and_downloads_go_through_presigned_urls_via_the_proxy(
    zigznote: LocalStack,
) -> None:
    put = _json(zigznote, "/api/presign?key=notes/1.txt&method=put")["url"]
    assert put.startswith(f"http://localhost:{zigznote.storage_port}/uploads/")
    body = b"a note uploaded from outside\n"
    assert _http("PUT", put, body)[0] == 200
    get = _json(zigznote, "/api/presign?key=notes/1.txt&method=get")["url"]
    assert _http("GET", get) == (200, body)
    # A tampered signature, and a request without one, are refused.
    assert _http("GET", get.replace("X-Amz-Signature=", "X-Amz-Signature=0"))[0] == 403
    bare = urllib.parse.urlsplit(get)._replace(query="").geturl()
    assert _http("GET", bare)[0] == 403
    # What arrived is in the store's bucket.
    listing = zigznote.compose("exec", "-T", "storage", "ls", "/data/buckets/uploads").stdout
    assert listing.strip()


def test_the_bucket_job_made_every_bucket(zigznote: LocalStack) -> None:
    buckets = zigznote.compose("exec", "-T", "storage", "ls", "/data/buckets").stdout.split()
    assert sorted(buckets) == ["exports", "uploads"]


def test_the_apps_key_cannot_reach_a_bucket_outside_its_own(zigznote: LocalStack) -> None:
    """A bucket the app was not given exists on the store, yet the app's key,
    correctly signed, can neither write to it nor read from it; the same key
    writes to its own second bucket."""
    shell = "weed shell -master=storage:9333"
    zigznote.compose(
        "exec", "-T", "storage", "sh", "-c", f"echo 's3.bucket.create -name private' | {shell}"
    )
    listed = zigznote.compose("exec", "-T", "storage", "sh", "-c", f"echo s3.bucket.list | {shell}")
    assert "private" in listed.stdout.split()

    def presigned(bucket: str, method: str) -> str:
        query = urllib.parse.urlencode({"key": "k.txt", "method": method, "bucket": bucket})
        return str(_json(zigznote, f"/api/presign?{query}")["url"])

    assert _http("PUT", presigned("exports", "put"), b"mine")[0] == 200
    status, body = _http("PUT", presigned("private", "put"), b"not mine")
    assert status == 403 and b"AccessDenied" in body
    status, body = _http("GET", presigned("private", "get"))
    assert status == 403 and b"AccessDenied" in body


def test_the_apps_key_is_scoped_to_its_buckets(zigznote: LocalStack) -> None:
    """The identity file the store was started with names only the app's buckets."""
    config = zigznote.compose("exec", "-T", "storage", "cat", "/tmp/s3.json").stdout
    (identity,) = json.loads(config)["identities"]
    assert {a.split(":", 1)[1] for a in identity["actions"]} == {"uploads", "exports"}
    secret = identity["credentials"][0]["secretKey"]
    assert len(secret) >= 24
    assert secret not in Path(zigznote.compose_dir / "compose.yaml").read_text()
