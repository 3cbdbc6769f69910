"""The app's own environment and data: names checked, values encoded, secrets secret."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import yaml

from components.services.presets import build_app
from mailstack.config import ConfigError, validate
from tests.conftest import stack_config
from tests.services_cases import app_params
from tools.harness import Run, read_stack_config, run_program

SECRET_VALUE = "tok$en-9f2c"  # `$` must survive as written


def _run(stack: str, **edits: Any) -> Run:
    config, secret_keys = stack_config(stack, **edits)
    return run_program(stack, config, secret_keys)


def _compose(run: Run) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    return doc


CUSTOM = {"app": "custom", "appImage": "ghcr.io/example/app:1.0.0", "redis": True}


def test_plain_and_secret_variables_reach_the_app_and_only_secrets_go_to_env_files() -> None:
    run = _run(
        "dev",
        set={**CUSTOM, "appEnv": ["LOG_LEVEL=info", "PRICE=$5 ${HOME}"]},
        secrets={"appSecretEnv": json.dumps({"ENCRYPTION_KEY": SECRET_VALUE})},
    )
    app = _compose(run)["services"]["app"]
    assert app["environment"]["LOG_LEVEL"] == "info"
    # Doubled for compose, which hands the app `$5 ${HOME}` as written.
    assert app["environment"]["PRICE"] == "$$5 $${HOME}"
    assert "ENCRYPTION_KEY" in app["x-secret-env"]
    assert SECRET_VALUE not in run.artifacts["compose/compose.yaml"].text
    env_file = run.artifacts["compose/env/app.env"]
    assert f"ENCRYPTION_KEY='{SECRET_VALUE}'" in env_file.text.splitlines()
    assert env_file.secret and env_file.mode == 0o600


def test_redis_url_carries_the_password_redis_requires() -> None:
    run = _run("dev", set=CUSTOM)
    app = _compose(run)["services"]["app"]
    assert "REDIS_URL" not in app.get("environment", {})
    assert "REDIS_URL" in app["x-secret-env"]
    env = dict(
        line.split("=", 1) for line in run.artifacts["compose/env/app.env"].text.splitlines()
    )
    redis_env = dict(
        line.split("=", 1) for line in run.artifacts["compose/env/redis.env"].text.splitlines()
    )
    password = redis_env["REDIS_PASSWORD"].strip("'")
    assert env["REDIS_URL"].strip("'") == f"redis://:{password}@redis:6379/0"


def test_web_api_gets_a_database_url_with_the_database_password() -> None:
    run = _run(
        "dev",
        set={
            "app": "web-api",
            "appImage": "ghcr.io/example/api:2.0.1",
            "appWebImage": "ghcr.io/example/web:2.0.1",
        },
    )
    env = dict(
        line.split("=", 1) for line in run.artifacts["compose/env/api.env"].text.splitlines()
    )
    db_env = dict(
        line.split("=", 1) for line in run.artifacts["compose/env/db.env"].text.splitlines()
    )
    password = db_env["POSTGRES_PASSWORD"].strip("'")
    assert env["DATABASE_URL"].strip("'") == f"postgresql://app:{password}@db:5432/app"


def test_a_secret_url_quotes_what_would_break_it() -> None:
    from components.services.model import Secret

    secret = Secret("random", "x", url="redis://:{}@redis:6379/0")
    assert secret.render("a@b/c") == "redis://:a%40b%2Fc@redis:6379/0"


@pytest.mark.parametrize(
    ("edits", "key"),
    [
        ({"set": {"appEnv": ["1BAD=x"]}}, "appEnv[0]"),
        ({"set": {"appEnv": ["NO_VALUE"]}}, "appEnv[0]"),
        ({"set": {"appEnv": ["LINE=a\nb"]}}, "appEnv[0]"),
        ({"set": {"appEnv": ["A=1", "A=2"]}}, "appEnv[1]"),
        ({"set": {"appEnv": ["SMTP_HOST=evil"]}}, "appEnv[0]"),
        ({"set": {"appEnv": ["REDIS_URL=redis://x"]}}, "appEnv[0]"),
        ({"secrets": {"appSecretEnv": json.dumps({"bad-name": "x"})}}, "appSecretEnv.bad-name"),
        ({"secrets": {"appSecretEnv": json.dumps({"KEY": "it's"})}}, "appSecretEnv.KEY"),
        (
            {"secrets": {"appSecretEnv": json.dumps({"S3_SECRET_ACCESS_KEY": "x"})}},
            "appSecretEnv.S3_SECRET_ACCESS_KEY",
        ),
        ({"secrets": {"appSecretEnv": "not json"}}, "appSecretEnv"),
        (
            {"set": {"appEnv": ["TOKEN=a"]}, "secrets": {"appSecretEnv": '{"TOKEN": "b"}'}},
            "appEnv[0]",
        ),
        ({"set": {"appDataPaths": ["data"]}}, "appDataPaths[0]"),
        ({"set": {"appDataPaths": ["/data/../etc"]}}, "appDataPaths[0]"),
        ({"set": {"appDataPaths": ["/data", "/data/jobs"]}}, "appDataPaths[1]"),
        (
            {"set": {"appDataPaths": ["/data"], "appSqliteFiles": ["/srv/x.db"]}},
            "appSqliteFiles[0]",
        ),
        ({"set": {"appSqliteFiles": ["/data/app.db"]}}, "appSqliteFiles"),
    ],
)
def test_bad_app_environment_or_data_names_the_key(edits: dict[str, Any], key: str) -> None:
    edits.setdefault("set", {}).update(CUSTOM)
    config, secret_keys = stack_config("dev", **edits)
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    assert f"mailstack:{key}" in [str(p).split(": ", 1)[0] for p in caught.value.problems]
    # A secret's value is never shown, even when refused.
    assert "it's" not in str(caught.value)


def test_listmonk_refuses_data_paths() -> None:
    config, secret_keys = stack_config("dev", set={"appDataPaths": ["/data"]})
    with pytest.raises(ConfigError, match="appDataPaths"):
        validate(config, secret_keys)


def test_transactional_api_keeps_its_database_by_default() -> None:
    from common.enums import AppPreset

    (app,) = build_app(app_params(preset=AppPreset.TRANSACTIONAL_API)).services
    (mount,) = app.mounts
    assert (mount.source, mount.target, mount.sqlite) == ("app-data", "/data", ("app.db",))


def test_every_sqlite_file_on_every_data_path_is_backed_up_consistently() -> None:
    run = _run(
        "dev",
        set={
            "app": "transactional-api",
            "appImage": "ghcr.io/example/selfmx:1.0.0",
            "appDataPaths": ["/data", "/var/lib/jobs"],
            "appSqliteFiles": ["/data/selfmx.db", "/data/audit/log.db", "/var/lib/jobs/jobs.db"],
        },
    )
    app = _compose(run)["services"]["app"]
    assert app["volumes"] == ["app-data:/data", "app-data-var-lib-jobs:/var/lib/jobs"]
    assert app["environment"]["DATA_DIR"] == "/data"
    conf = run.artifacts["backup/backup.conf"].text
    body = conf.split("BACKUP_SOURCES=(", 1)[1].split(")", 1)[0]
    sources = [shlex.split(line)[0].split() for line in body.strip().splitlines()]
    volumes = "/srv/mailstack/volumes"
    sqlite = sorted(s[2] for s in sources if s[0] == "sqlite")
    assert sqlite == [
        f"{volumes}/app-data-var-lib-jobs/jobs.db",
        f"{volumes}/app-data/audit/log.db",
        f"{volumes}/app-data/selfmx.db",
    ]
    # Each raw volume copy leaves its databases (and their sidecars) to the VACUUM INTO copies.
    (jobs,) = [s for s in sources if s[:2] == ["files", "app-data-var-lib-jobs"]]
    assert f"{volumes}/app-data-var-lib-jobs/jobs.db-wal" in jobs[3:]


def test_a_stack_file_with_per_variable_secrets_is_read_as_one_secret_object(
    tmp_path: Any,
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: mailstack\n")
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  mailstack:appSecretEnv:\n    API_KEY:\n      secure: v1:abc\n"
    )
    config, secret_keys = read_stack_config("x", root=tmp_path)
    assert "mailstack:appSecretEnv" in secret_keys
    assert json.loads(config["mailstack:appSecretEnv"]) == {
        "API_KEY": "<secret:mailstack:appSecretEnv.API_KEY>"
    }
