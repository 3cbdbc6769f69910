"""Every rendered compose file, Caddyfile and deploy step, checked by the real tools."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.caddy import CADDY
from tests.services_cases import CASE_IDS, CASES, runs
from tools.harness import Run

__all__ = ["runs"]  # a shared fixture


def write(run: Run, root: Path) -> Path:
    for rel, artifact in run.artifacts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.text)
    return root / "compose"


def check(*argv: str, cwd: Path | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv[0]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_compose_file_passes_compose_and_the_compose_spec(
    runs: dict[tuple[str, str], Run], stack: str, preset: str, tmp_path: Path
) -> None:
    compose = write(runs[(stack, preset)], tmp_path) / "compose.yaml"
    check("docker", "compose", "-f", str(compose), "config", "-q")
    venv_bin = Path(__file__).resolve().parents[2] / ".venv" / "bin"
    check(
        str(venv_bin / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose)
    )


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_caddyfile_passes_caddy_validate(
    runs: dict[tuple[str, str], Run], stack: str, preset: str, tmp_path: Path
) -> None:
    caddyfile = write(runs[(stack, preset)], tmp_path) / "Caddyfile"
    check(CADDY, "validate", "--config", str(caddyfile), "--adapter", "caddyfile")


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_server_certificates_come_only_from_lets_encrypt(
    runs: dict[tuple[str, str], Run], stack: str, preset: str, tmp_path: Path
) -> None:
    """What caddy itself makes of the Caddyfile: one issuer, ACME at its default CA."""
    caddyfile = write(runs[(stack, preset)], tmp_path) / "Caddyfile"
    done = subprocess.run(
        [CADDY, "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=True,
    )
    policies = json.loads(done.stdout)["apps"].get("tls", {}).get("automation", {}).get("policies")
    if stack == "local":
        assert policies is None
    else:
        assert policies and all(p["issuers"] == [{"module": "acme"}] for p in policies)


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_deploy_steps_pass_shellcheck(
    runs: dict[tuple[str, str], Run], stack: str, preset: str, tmp_path: Path
) -> None:
    scripts = []
    for reg in runs[(stack, preset)].registrations:
        if reg.type.startswith("command:") and reg.name.startswith("services-"):
            for phase in ("create", "update", "delete"):
                if phase in reg.inputs:
                    path = tmp_path / f"{reg.name}-{phase}.sh"
                    path.write_text(reg.inputs[phase])
                    scripts.append(str(path))
    assert len(scripts) > 4
    check("shellcheck", "--shell=sh", *scripts)


def test_the_release_script_passes_shellcheck() -> None:
    """mailstack-release runs on the host from every deploy step and `make rollback`."""
    check("shellcheck", "--severity=style", "assets/services/mailstack-release")


def test_the_files_step_writes_every_file_byte_for_byte(
    runs: dict[tuple[str, str], Run], tmp_path: Path
) -> None:
    """Run the rendered step (the policy file's CRLF line ends must survive the heredoc)."""
    run = runs[("prod", "transactional-api")]
    script = run.named("services-files").inputs["update"]
    project_dir = "/srv/mailstack/compose"
    assert f"cd {shlex.quote(project_dir)}\n" in script
    check("sh", "-c", script.replace(project_dir, shlex.quote(str(tmp_path))))
    expected = {
        rel.removeprefix("compose/"): artifact.text
        for rel, artifact in run.artifacts.items()
        if rel.startswith("compose/") and not rel.startswith(("compose/env/", "compose/deploy/"))
    }
    assert "mta-sts.txt" in expected
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    env_files = {rel for rel in written if rel.startswith("env/")}
    # Besides the files, the generation the step's delete compares (deploy.py).
    assert written - env_files == {*expected, ".files-generation"}
    generation = (tmp_path / ".files-generation").read_text().strip()
    assert f"!= {shlex.quote(generation)} ]" in run.named("services-files").inputs["delete"]
    for rel, text in expected.items():
        assert (tmp_path / rel).read_bytes() == text.encode(), rel
    # Compose loads every service's env file, so each exists before any service
    # step writes its own: empty and private.
    published = {
        rel.removeprefix("compose/") for rel in run.artifacts if rel.startswith("compose/env/")
    }
    assert published
    assert env_files == published
    for rel in env_files:
        assert (tmp_path / rel).stat().st_size == 0
        assert (tmp_path / rel).stat().st_mode & 0o777 == 0o600


def test_the_files_step_never_overwrites_an_env_file(
    runs: dict[tuple[str, str], Run], tmp_path: Path
) -> None:
    """The placeholders must not blank the secrets a service step already wrote."""
    script = runs[("prod", "listmonk")].named("services-files").inputs["update"]
    assert "cd /srv/mailstack/compose\n" in script
    script = script.replace("/srv/mailstack/compose", shlex.quote(str(tmp_path)))
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "db.env").write_text("POSTGRES_PASSWORD='kept'\n")
    check("sh", "-c", script)
    assert (tmp_path / "env" / "db.env").read_text() == "POSTGRES_PASSWORD='kept'\n"


def test_alertmanager_writes_the_secrets_it_is_given(tmp_path: Path) -> None:
    """The relay password and webhook URL reach Alertmanager's files as given: the
    command, as Compose resolves it, run by a real shell with the service's env."""
    from tests.conftest import stack_config
    from tools.harness import run_program

    config, secret_keys = stack_config("prod")
    compose = write(run_program("prod", config, secret_keys), tmp_path) / "compose.yaml"
    done = subprocess.run(
        ["docker", "compose", "-f", str(compose), "config", "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    service = json.loads(done.stdout)["services"]["alertmanager"]
    # `compose config` prints a literal `$` escaped again, as `$$`.
    script = service["command"][0].replace("$$", "$").replace("/run/mailstack/", f"{tmp_path}/")
    script = script.split(" && exec ")[0]
    secrets = {"SMTP_PASSWORD": "pa$$w0rd $HOME `x`", "WEBHOOK_URL": "https://h.example/$1?a=b"}
    subprocess.run(["/bin/sh", "-c", script], env=secrets, check=True)
    assert (tmp_path / "smtp_password").read_text() == secrets["SMTP_PASSWORD"]
    assert (tmp_path / "webhook_url").read_text() == secrets["WEBHOOK_URL"]
