"""monthlyCostEur: every priced resource, from the dated table, overrides applied."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.pricing import PRICES
from mailstack.config import ConfigError, validate
from mailstack.cost import line_items, monthly_cost_eur, unconfirmed
from tests.conftest import RunStack, stack_config


def _config(stack: str, **edits: Any) -> Any:
    config, secrets = stack_config(stack, **edits)
    return validate(config, secrets, stack=stack)


def _eur(key: str) -> Decimal:
    return PRICES[key].eur


def test_local_costs_nothing() -> None:
    assert line_items(_config("local")) == []
    assert monthly_cost_eur(_config("local")) == 0


def test_dev_is_one_cx23_its_ips_and_a_20_gb_volume() -> None:
    # Pulumi.dev.yaml: cx23 (default), no backups, 20 GB (default).
    hand = _eur("cx23") + _eur("primary-ipv4") + _eur("primary-ipv6") + 20 * _eur("volume-gb")
    assert monthly_cost_eur(_config("dev")) == float(hand.quantize(Decimal("0.01")))
    assert monthly_cost_eur(_config("dev")) == 5.37  # 3.99 + 0.50 + 0 + 20 * 0.044


def test_prod_counts_the_backup_option_as_20_percent_of_the_server() -> None:
    # Pulumi.prod.yaml: cx33, serverBackups, 50 GB.
    assert monthly_cost_eur(_config("prod")) == 10.49  # 6.49 * 1.2 + 0.50 + 50 * 0.044
    assert {i.price_key for i in line_items(_config("prod"))} == {
        "cx33",
        "backup-percent",
        "primary-ipv4",
        "primary-ipv6",
        "volume-gb",
    }


def test_overrides_replace_table_entries() -> None:
    config = _config("prod", set={"priceOverrides": ["cx33=10", "volume-gb=0.1", "primary-ipv4=1"]})
    assert monthly_cost_eur(config) == 18.0  # 10 * 1.2 + 1 + 0 + 50 * 0.1
    assert "volume-gb" not in unconfirmed(config)


def test_three_nodes_count_every_node_its_volume_and_the_load_balancer() -> None:
    pools = ["edge:1:cx23:proxy+app", "app:1:cx23:app", "db:1:cx33:manager+db+monitoring"]
    config = _config("dev", set={"nodePools": pools})
    servers = 2 * _eur("cx23") + _eur("cx33")
    ips = 3 * (_eur("primary-ipv4") + _eur("primary-ipv6"))
    # The db node's 20 GB data volume and the smallest one (10 GB) on each other node.
    hand = servers + ips + (20 + 2 * 10) * _eur("volume-gb") + _eur("lb11")
    assert monthly_cost_eur(config) == float(hand.quantize(Decimal("0.01")))


@pytest.mark.parametrize(
    "override",
    ["volume=1", "cx-23=1", "cx23=", "cx23=1,5", "cx23=1\n", "CX23=1", " cx23=1", "cx23=-1"],
)
def test_a_bad_override_is_a_config_error_naming_the_key(override: str) -> None:
    config, secrets = stack_config("dev", set={"priceOverrides": [override]})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets, stack="dev")
    assert [p.key for p in caught.value.problems] == ["priceOverrides[0]"]


def test_an_unpriced_server_type_asks_for_an_override() -> None:
    config, secrets = stack_config("dev", set={"serverType": "cax11"})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets, stack="dev")
    [problem] = caught.value.problems
    assert problem.key == "serverType" and "priceOverrides" in problem.message
    priced = _config("dev", set={"serverType": "cax11", "priceOverrides": ["cax11=1"]})
    assert priced.server.type == "cax11"


def test_the_figure_is_a_stack_output(run_stack: RunStack) -> None:
    assert run_stack("local").outputs["monthlyCostEur"] == 0
    assert run_stack("dev").outputs["monthlyCostEur"] == 5.37


def test_an_unpriced_pool_type_names_node_pools() -> None:
    pools = ["edge:1:cx23:proxy+app", "db:1:cax21:manager+db"]
    config, secrets = stack_config("dev", set={"nodePools": pools})
    with pytest.raises(ConfigError) as caught:
        validate(config, secrets, stack="dev")
    assert [(p.key, "cax21" in p.message) for p in caught.value.problems] == [("nodePools", True)]
