"""Object storage after MinIO: SeaweedFS, buckets as code, the app's own scoped key."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.mail_records import (
    DmarcParams,
    MailRecordParams,
    RecordValues,
    build_records,
    records_by_key,
)
from components.services import kinds
from mailstack.config import ConfigError, validate
from tests.conftest import STACKS, stack_config
from tests.services_cases import CASE_IDS, CASES, compose_of, runs
from tools.harness import Run, run_program

__all__ = ["runs"]  # a shared fixture

WEB_API = {
    "app": "web-api",
    "appImage": "ghcr.io/example/api:2.0.1",
    "appWebImage": "ghcr.io/example/web:2.0.1",
}


def _run(stack: str, **settings: Any) -> Run:
    config, secret_keys = stack_config(stack, set=settings)
    return run_program(stack, config, secret_keys)


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_no_compose_file_names_minio(
    runs: dict[tuple[str, str], Run], stack: str, preset: str
) -> None:
    for service in compose_of(runs[(stack, preset)])["services"].values():
        assert not service["image"].startswith(("minio/minio", "minio/mc")), service["image"]


@pytest.mark.parametrize("key", ["minio", "minioBuckets"])
def test_minio_is_an_error_that_says_what_to_use(key: str) -> None:
    value: Any = True if key == "minio" else ["uploads"]
    config, secret_keys = stack_config("dev", set={key: value})
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    (problem,) = [p for p in caught.value.problems if p.key == key]
    assert "storage: true" in problem.message and "SeaweedFS" in problem.message


def test_the_apps_key_may_use_its_buckets_and_nothing_else() -> None:
    identities = json.loads(kinds.s3_identities(["uploads", "exports"]))["identities"]
    (app,) = identities  # no admin identity at all
    assert app["credentials"] == [{"accessKey": "%s", "secretKey": "%s"}]
    assert sorted(app["actions"]) == sorted(
        f"{a}:{b}" for b in ("uploads", "exports") for a in ("Read", "Write", "List", "Tagging")
    )
    assert all(":" in action for action in app["actions"])  # never an unscoped action


def test_storage_runs_with_its_bucket_job_and_hands_the_app_its_key() -> None:
    run = _run("dev", **WEB_API, storageBuckets=["uploads", "exports"], storageSubdomain="files")
    services = compose_of(run)["services"]
    store, job, api = services["storage"], services["storage-buckets"], services["api"]
    assert store["image"].startswith(f"{kinds.SEAWEEDFS.name}:{kinds.SEAWEEDFS.tag}")
    assert store["networks"] == ["internal"] and "ports" not in store
    assert job["depends_on"] == {"storage": {"condition": "service_healthy"}}
    assert "uploads exports;" in job["command"][0]
    assert api["depends_on"]["storage-buckets"] == {"condition": "service_completed_successfully"}
    env = api["environment"]
    assert env["S3_ENDPOINT"] == "http://storage:8333"
    assert env["S3_BUCKETS"] == "uploads,exports" and env["S3_BUCKET"] == "uploads"
    assert env["S3_PUBLIC_ENDPOINT"] == "https://files.dev.example.com"
    assert "S3_SECRET_ACCESS_KEY" in api["x-secret-env"]
    # The same generated secret on both sides; it is in neither compose.yaml nor argv.
    api_env = run.artifacts["compose/env/api.env"].text
    store_env = run.artifacts["compose/env/storage.env"].text
    secret = [line for line in store_env.splitlines() if line.startswith("S3_SECRET")]
    assert secret and secret[0] in api_env.splitlines()
    assert "$$S3_SECRET_ACCESS_KEY" in store["command"][0]


def test_the_public_route_serves_the_s3_port_only_on_its_own_host() -> None:
    run = _run("dev", **WEB_API, storageSubdomain="files")
    caddyfile = run.artifacts["compose/Caddyfile"].text
    block = caddyfile.split("files.dev.example.com {", 1)[1].split("\n}\n", 1)[0]
    assert "reverse_proxy storage:8333" in block
    for internal in ("9333", "8888", "8080", "18888"):
        assert internal not in block
    # The proxy waits for none of its upstreams (components/services/project.py).
    assert "storage" not in compose_of(run)["services"]["proxy"].get("depends_on", {})


def test_without_a_subdomain_the_store_stays_internal() -> None:
    run = _run("dev", **WEB_API)
    assert "storage:8333" not in run.artifacts["compose/Caddyfile"].text
    assert "S3_PUBLIC_ENDPOINT" not in compose_of(run)["services"]["api"]["environment"]


def test_locally_the_store_is_published_on_loopback() -> None:
    run = _run("local", **WEB_API)
    proxy = compose_of(run)["services"]["proxy"]
    assert "127.0.0.1:8333:8333" in proxy["ports"]
    env = compose_of(run)["services"]["api"]["environment"]
    assert env["S3_PUBLIC_ENDPOINT"] == "http://localhost:8333"


def test_the_storage_host_gets_the_servers_addresses_never_proxied() -> None:
    params = MailRecordParams(
        domain="example.com",
        app_host="app.example.com",
        mail_host="mail.example.com",
        dmarc=DmarcParams(policy="none", rua="dmarc@example.com"),
        proxy_web=True,
        storage_host="files.example.com",
    )
    records = records_by_key(build_records(params, RecordValues("192.0.2.1", "2001:db8::1", {})))
    assert records["storage-a"].name == "files.example.com"
    assert records["storage-a"].content == "192.0.2.1"
    assert not records["storage-a"].proxied and not records["storage-aaaa"].proxied


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"storageSubdomain": "files"}, "storageSubdomain"),
        ({**WEB_API, "storageSubdomain": "app"}, "storageSubdomain"),
        ({**WEB_API, "storageSubdomain": "Files"}, "storageSubdomain"),
        ({**WEB_API, "storageBuckets": ["ab"]}, "storageBuckets[0]"),
        ({**WEB_API, "storageBuckets": ["files", "files"]}, "storageBuckets[1]"),
    ],
)
def test_bad_storage_settings_name_the_key(settings: dict[str, Any], key: str) -> None:
    config, secret_keys = stack_config("dev", set=settings)
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    assert key in {p.key for p in caught.value.problems}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_still_renders_without_storage(stack: str) -> None:
    doc = yaml.safe_load(_run(stack).artifacts["compose/compose.yaml"].text)
    assert "storage" not in doc["services"]
