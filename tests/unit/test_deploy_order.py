"""Deploy steps wait for what they need and nothing else, on every preset and stack.

The model is the judge: a service step waits for the files step, the pull
step, and the steps of the services its `Service.depends_on` names (as
compose does), never for a service it does not need.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from bench.critical_path import Graph, sequential_steps
from components.backup import SCRIPTS
from components.services.deploy import ComposeProject
from components.services.model import Project
from components.services.pull import image_refs, refs_hash
from components.services.steps import snapshots_first
from mailstack import wiring
from mailstack.config import load_config
from tests.conftest import stack_config
from tests.services_cases import CASE_IDS, CASES, settings
from tools.harness import Run, run_program
from tools.synth import resource_entry

SERVICE = "mailstack:services:ServiceDeployment"
STEPS = ("command:remote:Command", "command:local:Command")
BACKUP_TOOLS = {
    "backup-packages",
    "backup-config",
    "backup-password",
    "backup-credentials",
    *(f"backup-script-{s.removeprefix('mailstack-').removesuffix('.sh')}" for s in SCRIPTS),
}
"""The steps an app's or a migrating job's deploy waits for (pre-update snapshots)."""


def _run(stack: str, preset: str) -> tuple[Run, Project]:
    """The whole program for the case, and the service model it deployed."""
    built: list[ComposeProject] = []

    class Recorded(ComposeProject):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    def program() -> None:
        with mock.patch.object(wiring, "ComposeProject", Recorded):
            wiring.deploy(load_config())

    config, secret_keys = stack_config(stack, set=settings(preset))
    run = run_program(stack, config, secret_keys, program=program)
    (services,) = built
    return run, services.project


@pytest.fixture(scope="module")
def cases() -> dict[tuple[str, str], tuple[Run, Project]]:
    return {case: _run(*case) for case in CASES}


def _closure(project: Project, name: str) -> set[str]:
    todo, seen = list(project.service(name).depends_on), set[str]()
    while todo:
        if (dep := todo.pop()) not in seen:
            seen.add(dep)
            todo.extend(project.service(dep).depends_on)
    return seen


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_a_service_step_waits_only_for_the_services_it_depends_on(
    cases: dict[tuple[str, str], tuple[Run, Project]], stack: str, preset: str
) -> None:
    run, project = cases[(stack, preset)]
    by_urn = run.by_urn()
    steps = {
        by_urn[r.parent].name.removeprefix("services-"): r
        for r in run.registrations
        if r.parent in by_urn and by_urn[r.parent].type == SERVICE
    }
    assert set(steps) == {s.name for s in project.services}
    service_of = {step.urn: name for name, step in steps.items()}
    files, pull = run.named("services-files"), run.named("services-pull")
    host_ready = {
        r.urn for r in run.registrations if r.name in ("server-cloud-init", "server-access")
    }
    for service in project.services:
        step = steps[service.name]
        waits = {service_of[u] for u in step.dependencies if u in service_of}
        assert waits == set(service.depends_on), f"{service.name} waits for {sorted(waits)}"
        # Nothing else on the host: the files, the images, the host being ready.
        other = {
            by_urn[u].name
            for u in step.dependencies
            if u in by_urn and by_urn[u].type in STEPS and u not in service_of
        }
        expected = {files.name, pull.name} | {by_urn[u].name for u in host_ready}
        # An app or a migrating job takes a pre-update snapshot with the backup tools.
        if snapshots_first(service, project):
            expected |= {r.name for r in run.registrations if r.name in BACKUP_TOOLS}
        assert other == expected, service.name
        # And not through another step either: what it waits for, all the way
        # up, is exactly what compose starts before it.
        todo, upstream = list(step.dependencies), set[str]()
        while todo:
            if (urn := todo.pop()) in upstream or urn not in by_urn:
                continue
            upstream.add(urn)
            todo.extend(by_urn[urn].dependencies)
        assert {service_of[u] for u in upstream if u in service_of} == _closure(
            project, service.name
        ), service.name


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_one_early_step_pulls_every_image(
    cases: dict[tuple[str, str], tuple[Run, Project]], stack: str, preset: str
) -> None:
    run, project = cases[(stack, preset)]
    pull = run.named("services-pull")
    refs = image_refs(project)
    assert set(refs) == {s.image.ref for s in project.services}
    for ref in refs:
        assert f"pull {ref} &" in pull.inputs["create"], ref
    assert refs_hash(refs) in pull.inputs["triggers"]
    by_urn = run.by_urn()
    waits = {by_urn[u].name for u in pull.dependencies if by_urn[u].type in STEPS}
    # Right after the boot, beside the access step and the files step.
    assert waits == (set() if stack == "local" else {"server-cloud-init"})


@pytest.mark.parametrize(("stack", "preset"), CASES, ids=CASE_IDS)
def test_the_proxy_waits_for_no_upstream(
    cases: dict[tuple[str, str], tuple[Run, Project]], stack: str, preset: str
) -> None:
    """It holds requests until an upstream answers; it waits only for jobs nobody
    else awaits (so `docker compose up --wait` accepts their exit)."""
    _, project = cases[(stack, preset)]
    proxy = project.service("proxy")
    awaited = {d for s in project.services if s is not proxy for d in s.depends_on}
    jobs = {s.name for s in project.services if s.role.value == "job"}
    assert set(proxy.depends_on) == jobs - awaited
    assert all(project.service(d).role.value == "job" for d in proxy.depends_on)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_at_most_five_steps_run_one_after_another_after_the_boot(
    cases: dict[tuple[str, str], tuple[Run, Project]], stack: str
) -> None:
    for preset in {p for s, p in CASES if s == stack}:
        run, _ = cases[(stack, preset)]
        chain, after_wait = sequential_steps(
            Graph.of([resource_entry(r) for r in run.registrations])
        )
        assert chain[0] == "server-cloud-init"
        assert after_wait <= 5, f"{preset}: {' -> '.join(chain)}"
