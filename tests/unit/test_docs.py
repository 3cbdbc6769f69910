"""Pulumi.yaml's config block, docs/config.md and docs/outputs.md are generated and current."""

from __future__ import annotations

import yaml

from mailstack.config import PROJECT, key_specs
from mailstack.outputs import OUTPUTS
from tests.conftest import stack_config
from tests.unit.test_cluster import SWARM
from tools import docs
from tools.harness import ROOT, Run, run_program


def test_generated_docs_are_current() -> None:
    assert docs.stale() == [], "run `make docs` and commit the result"


def test_every_plain_key_is_declared_with_type_description_and_default() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]
    plain = [s for s in key_specs() if not s.secret]
    assert set(declared) == {f"{PROJECT}:{s.alias}" for s in plain}
    for spec in plain:
        decl = declared[f"{PROJECT}:{spec.alias}"]
        assert decl["type"] in {"string", "integer", "boolean", "array"}
        assert decl["description"]
        assert "default" in decl or spec.alias == "domain"


def test_project_file_follows_pulumi_schema_for_config() -> None:
    # Pulumi.yaml may only declare string/integer/boolean/array types.
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"


def test_the_reference_documents_every_key_including_secrets() -> None:
    reference = (ROOT / "docs" / "config.md").read_text()
    for spec in key_specs():
        assert f"`{PROJECT}:{spec.alias}`" in reference


def _ses_runs() -> list[Run]:
    """prod with SES as code, signed with mailstack's key and with Easy DKIM: the
    committed stacks leave `sesAsCode` off, so their outputs lack SES's."""
    runs = []
    for extra in ({}, {"dkimSigner": "ses"}):
        config, secret_keys = stack_config("prod", set={"sesAsCode": True, **extra})
        runs.append(run_program("prod", config, secret_keys))
    return runs


def test_the_outputs_table_is_exactly_what_the_stacks_export(stack_runs: dict[str, Run]) -> None:
    documented = {doc.name for doc in OUTPUTS}
    # And a multi-node stack (the example's pools, tests/unit/test_cluster.py).
    config, secret_keys = stack_config("dev", set=SWARM)
    runs = [*stack_runs.values(), *_ses_runs(), run_program("dev", config, secret_keys)]
    exported = {name for run in runs for name in run.outputs}
    assert exported == documented
    table = (ROOT / "docs" / "outputs.md").read_text()
    for name in documented:
        assert f"| `{name}` |" in table


def test_array_items_keep_their_type_through_annotated_wrappers() -> None:
    # A constrained string type (e.g. `Printable`) is still a string to Pulumi.
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert declared[f"{PROJECT}:appHealthCommand"]["items"] == {"type": "string"}
    assert declared[f"{PROJECT}:adminCidrs"]["items"] == {"type": "string"}
    assert declared[f"{PROJECT}:firewallExtraTcpPorts"]["items"] == {"type": "integer"}
