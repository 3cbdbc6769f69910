"""nodePools: readable pools, the Swarm rules, and no change to single-server stacks."""

from __future__ import annotations

import pytest

from common.topology import NodePool, Role
from mailstack.config import ConfigError, Problem, validate
from tests.conftest import RunStack, stack_config
from tests.unit.test_urns import lost_urns
from tools.harness import MailstackMocks, RecordingMonitor, run_program

THREE = ["edge:1:cx23:manager+proxy+app", "app:1:cx23:app", "db:1:cx33:db+monitoring"]
"""Three nodes, the manager on the edge: for stacks without backups."""
BACKED_UP = ["edge:1:cx23:proxy+app", "app:1:cx23:app", "db:1:cx33:manager+db+monitoring"]
"""The example's pools (examples/three-nodes.yaml): the db node is the manager."""


def _problems(stack: str, pools: list[str], backups: bool = False) -> list[tuple[str, str]]:
    config, secrets = stack_config(stack, set={"nodePools": pools, "backupEnabled": backups})
    try:
        validate(config, secrets, stack=stack)
    except ConfigError as err:
        return [(p.key, p.message) for p in err.problems]
    return []


def test_a_pool_reads_as_name_count_type_roles() -> None:
    pool = NodePool.parse("edge:3:cx23:manager+proxy")
    assert pool == NodePool("edge", 3, "cx23", (Role.MANAGER, Role.PROXY))
    assert pool.node_names() == ["edge-1", "edge-2", "edge-3"]


def test_three_nodes_are_a_valid_topology() -> None:
    assert _problems("dev", THREE) == []
    assert _problems("dev", BACKED_UP, backups=True) == []


def test_with_backups_the_db_node_must_be_a_manager() -> None:
    """Its restore scales the app's services on every node: a manager's API."""
    ((key, message),) = _problems("dev", THREE, backups=True)
    assert key == "nodePools"
    assert "db node must also hold the manager role" in message


@pytest.mark.parametrize(
    "pool",
    [
        "Edge:1:cx23:app",  # not a DNS label
        "edge:0:cx23:app",  # no nodes
        "edge:1:cx23:app+app",  # a role twice
        "edge:1:cx23:web",  # no such role
        "edge:1:cx23:app\n",  # trailing line break
        "edge:1:cx23",  # no roles
        "-edge:1:cx23:app",
    ],
)
def test_a_malformed_pool_names_its_key(pool: str) -> None:
    assert [key for key, _ in _problems("dev", [pool])] == ["nodePools[0]"]


@pytest.mark.parametrize(
    ("pools", "words"),
    [
        (["a:2:cx23:manager+proxy+app", "db:1:cx33:db"], "odd count"),
        (["a:1:cx23:manager+proxy+app", "b:1:cx23:manager", "db:1:cx33:db"], "manager"),
        (["a:1:cx23:manager+proxy+app"], "db role"),
        (["a:1:cx23:manager+proxy+app", "db:2:cx33:db"], "db role"),
        (["a:1:cx23:manager+app", "db:1:cx33:db"], "proxy role"),
        (["a:1:cx23:manager+proxy", "db:1:cx33:db"], "app role"),
        (["a:1:cx23:manager+proxy+app", "a:1:cx33:db"], "names must differ"),
    ],
)
def test_swarm_rules(pools: list[str], words: str) -> None:
    problems = _problems("dev", pools)
    assert [key for key, _ in problems] == ["nodePools"]
    assert words in problems[0][1]


def test_refused_for_local() -> None:
    assert [key for key, _ in _problems("local", THREE)] == ["nodePools"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_pools_is_todays_single_server(stack: str, run_stack: RunStack) -> None:
    """Same URNs and the same inputs with `nodePools: []` as without the key."""
    before, after = run_stack(stack), run_stack(stack, set={"nodePools": []})
    # Registration order follows the event loop, so compare by URN.
    assert {r.urn: r.inputs for r in after.registrations} == {
        r.urn: r.inputs for r in before.registrations
    }
    assert len(after.registrations) == len(before.registrations)
    # And every deployed URN is still matched (directly or through an alias).
    assert lost_urns(after) == []


def test_backups_that_would_miss_the_apps_data_are_refused_before_any_resource() -> None:
    """listmonk keeps its uploads on a volume beside the app: on two app nodes that is
    two copies, neither on the db node where the backups run. `up` must not build a
    stack whose backups silently leave them out."""
    (problem,) = refused_before_any_resource({"nodePools": BACKED_UP})
    assert problem.key == "nodePools"
    assert "app (app-uploads) on edge-1, app-1" in problem.message


def refused_before_any_resource(edits: dict[str, object]) -> list[Problem]:
    """The problems a dev stack with `edits` is refused for; it registers nothing."""
    config, secret_keys = stack_config("dev", set=edits)
    monitor = RecordingMonitor(MailstackMocks())
    with pytest.raises(ConfigError) as caught:
        run_program("dev", config, secret_keys, monitor=monitor)
    assert monitor.registrations == []
    return caught.value.problems
