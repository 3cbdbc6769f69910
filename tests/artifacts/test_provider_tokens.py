"""Every workflow step that runs the program gets the providers' tokens.

`pulumi preview` and `up` start the hcloud and cloudflare providers, which stop
("Missing Hetzner Cloud API token") unless the stack config sets
`hcloud:token` / `cloudflare:apiToken` or the environment has the variables
the installed providers read. The names are taken from those providers, so a
provider that renamed its variable fails this test rather than the next preview.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pulumi_cloudflare
import pulumi_hcloud
import pytest
import yaml

from tools.harness import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# The scripts that evaluate the program (and so start the providers).
PROGRAM_SCRIPTS = ("scripts/pr-preview.sh", "scripts/throwaway.sh")


def _env_name(module: Any, param: str) -> str:
    """The variable the provider's own docs name for `param` (its Provider args)."""
    source = Path(inspect.getfile(module.Provider)).read_text()
    lines = {line for line in source.splitlines() if f"] {param}: " in line}
    names = {n for line in lines for n in re.findall(r"`?([A-Z][A-Z0-9_]+)`? environment", line)}
    (name,) = names
    return str(name)


def provider_env_names() -> tuple[str, ...]:
    return (_env_name(pulumi_hcloud, "token"), _env_name(pulumi_cloudflare, "api_token"))


def test_the_installed_providers_read_the_variables_the_docs_name() -> None:
    assert provider_env_names() == ("HCLOUD_TOKEN", "CLOUDFLARE_API_TOKEN")


def _program_steps() -> list[tuple[str, str, dict[str, Any]]]:
    steps = []
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        for job_name, job in doc["jobs"].items():
            for step in job.get("steps", []):
                if any(script in step.get("run", "") for script in PROGRAM_SCRIPTS):
                    steps.append((f"{path.name}/{job_name}", step["name"], step.get("env", {})))
    return steps


def test_the_preview_and_review_jobs_run_the_program() -> None:
    jobs = {job for job, _, _ in _program_steps()}
    assert {"preview.yml/dev", "preview.yml/prod", "review-server.yml/up"} <= jobs


@pytest.mark.parametrize("job,step,env", _program_steps(), ids=lambda v: str(v)[:40])
def test_every_program_step_gets_the_provider_tokens_from_secrets(
    job: str, step: str, env: dict[str, Any]
) -> None:
    for name in provider_env_names():
        assert env.get(name) == f"${{{{ secrets.{name} }}}}", f"{job} / {step}: {name}"


def test_the_docs_say_where_each_job_gets_its_tokens() -> None:
    text = (ROOT / "docs" / "reviewing.md").read_text()
    table = {
        row.split("|")[1].strip(" `"): row.split("|")[3]
        for row in text.splitlines()
        if row.startswith("| `") and row.count("|") >= 4
    }
    for name in provider_env_names():
        assert {"`preview`", "`preview-prod`", "`review-server`"} <= set(
            re.findall(r"`[a-z-]+`", table[name])
        ), name
