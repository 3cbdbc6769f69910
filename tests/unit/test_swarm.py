"""The Swarm renderer on every preset: placement, update order and replicas."""

from __future__ import annotations

import pytest

from common.topology import NODE_LABEL
from common.topology import Role as NodeRole
from components.services.model import Role, Update
from components.services.presets import Relay
from components.services.project import ProjectParams, build_project
from components.services.swarm import PLACEMENT, Topology, config_name, constraint, swarm_dict
from components.swarm_steps import render_members_step
from mailstack.config import AppPreset
from tests.services_cases import app_params

IMAGES = {AppPreset.LISTMONK: "", AppPreset.MAILWIZZ: "", AppPreset.CUSTOM: "example/app:1.0"}


@pytest.mark.parametrize("preset", list(IMAGES))
@pytest.mark.parametrize("app_nodes", [1, 3])
def test_every_service_is_placed_and_updated_as_its_model_says(
    preset: AppPreset, app_nodes: int
) -> None:
    app = app_params(
        preset=preset, image=IMAGES[preset], relay=Relay("smtp.example.com", 587), storage=True
    )
    params = ProjectParams(
        project="mailstack-prod",
        app=app,
        app_host="app.example.com",
        admin_cidrs=("198.51.100.7/32",),
        monitoring=True,
    )
    rendered = build_project(params)
    project = rendered.project
    doc = swarm_dict(project, Topology(app_nodes=app_nodes), rendered.files)
    assert set(doc["services"]) == {s.name for s in project.services}
    for service in project.services:
        deploy = doc["services"][service.name]["deploy"]
        assert deploy["placement"]["constraints"] == [constraint(PLACEMENT[service.role])]
        if service.role is Role.APP:
            assert deploy["replicas"] == app_nodes
        elif service.role is not Role.PROXY:
            assert deploy["replicas"] == 1
        if service.role is not Role.JOB:
            order = "start-first" if service.update is Update.START_FIRST else "stop-first"
            assert deploy["update_config"]["order"] == order
    assert PLACEMENT[Role.DATABASE] is NodeRole.DB
    if preset is AppPreset.MAILWIZZ:
        # MailWizz's PHP-FPM is the stateless app service that starts before stopping.
        orders = {
            s["deploy"].get("update_config", {}).get("order") for s in doc["services"].values()
        }
        assert "start-first" in orders


def test_every_service_role_has_a_node_role() -> None:
    assert set(PLACEMENT) == set(Role)


def test_no_app_node_is_refused() -> None:
    with pytest.raises(ValueError, match="app node"):
        Topology(app_nodes=0)


def test_a_changed_file_is_a_new_config() -> None:
    # Swarm refuses to change a config in place: the name must follow the content.
    assert config_name("Caddyfile", "a") != config_name("Caddyfile", "b")
    assert config_name("Caddyfile", "a") == config_name("Caddyfile", "a")
    assert config_name("nginx.conf", "a").startswith("nginx-conf-")


def test_the_app_spreads_over_a_label_the_members_step_sets() -> None:
    # Swarm spreads only over `node.labels.*` and `engine.labels.*` values and
    # silently ignores any other descriptor (swarmkit's nodeSet.tree), such as
    # `node.id`: one label per node, valued with the node's id, is what spreads.
    app = app_params(preset=AppPreset.LISTMONK, image="", relay=Relay("smtp.example.com", 587))
    params = ProjectParams(
        project="mailstack-prod", app=app, app_host="app.example.com", admin_cidrs=()
    )
    rendered = build_project(params)
    doc = swarm_dict(rendered.project, Topology(app_nodes=2), rendered.files)
    placement = doc["services"]["app"]["deploy"]["placement"]
    assert placement["preferences"] == [{"spread": f"node.labels.{NODE_LABEL}"}]
    members = render_members_step((NodeRole.MANAGER,), {"abc123": (NodeRole.APP,)})
    assert f'args="--label-add {NODE_LABEL}=$node"' in members
    assert 'label "$self" manager' in members and "label abc123 app" in members
