"""The alert-timing helper the monitoring tests assert their budgets with."""

from __future__ import annotations

from typing import Any

import pytest

from tests.prometheus_clock import failing_run


def _prometheus(probes: list[tuple[float, str]]) -> Any:
    def query(promql: str) -> list[dict[str, Any]]:
        if promql.startswith("probe_success"):
            return [{"values": [[ts, v] for ts, v in probes]}]
        # Every scrape took half a second.
        return [{"values": [[ts, "0.5"] for ts, _ in probes]}]

    return query


def test_the_run_an_alert_rests_on_starts_after_the_last_success_or_gap() -> None:
    since = 1_000.0
    probes = [(since + 5, "1"), (since + 10, "0"), (since + 15, "0"), (since + 20, "1")]
    # Cut by a success, then by a missing scrape (20 s apart at a 5 s interval).
    probes += [(since + 25, "0"), (since + 45, "0"), (since + 50, "0"), (since + 55, "0")]
    began, result, cut = failing_run(_prometheus(probes), "http", since, since + 56, 5)
    assert (began, result, cut) == (since + 45, since + 45.5, 2)


def test_no_failed_probe_before_the_alert_is_an_error() -> None:
    since = 1_000.0
    with pytest.raises(AssertionError, match="no failed probe"):
        failing_run(_prometheus([(since + 5, "1")]), "http", since, since + 10, 5)
