"""Alert timing read on Prometheus's own clock.

The tests that stop an app and wait for its alert assert the rule's budget on
the timestamps Prometheus stored (a probe's scrape, its duration, the alert's
`ALERTS` samples): a loaded test machine delays when the test polls, never
those readings. How long the email then takes is wall-clock delivery time,
reported, not asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Query = Callable[[str], list[dict[str, Any]]]
"""An instant query: PromQL in, the API's `data.result` out."""

FIRING = 'ALERTS{alertname="AppDown", alertstate="firing"}'


def samples(query: Query, selector: str, since: float) -> list[tuple[float, str]]:
    """Prometheus's own samples of `selector` (its timestamps, its values) since `since`."""
    window = int(time.time() - since) + 30
    found = [
        (float(ts), value)
        for series in query(f"{selector}[{window}s]")
        for ts, value in series["values"]
    ]
    return sorted(s for s in found if s[0] >= since)


def _result_at(query: Query, job: str, start: float) -> float:
    """When Prometheus had the result of the scrape of `job` that began at `start`:
    plus the scrape's duration, stored at the same timestamp. A probe of a
    stopped app lasts seconds (the proxy waits for its upstream); a rule can
    only see the result after that."""
    durations = dict(samples(query, f'scrape_duration_seconds{{job="{job}"}}', start))
    return start + float(durations[start])


def first_probe(query: Query, job: str, value: str, since: float) -> tuple[float, float]:
    """The first probe of `job` since `since` that returned `value`: when its scrape
    began and when Prometheus had its result."""
    probes = samples(query, f'probe_success{{job="{job}"}}', since)
    start = next(ts for ts, v in probes if v == value)
    return start, _result_at(query, job, start)


def failing_run(
    query: Query, job: str, since: float, until: float, interval: float
) -> tuple[float, float, int]:
    """The uninterrupted run of failed probes of `job` that an alert firing at
    `until` rests on: when its first scrape began, when Prometheus had that
    result, and how many earlier runs since `since` were cut short.

    A rule's `for` starts again whenever its expression returns nothing, and a
    probe scrape that outlives its timeout stores no `probe_success` sample, so
    a run is cut by a success or by a gap of more than 1.5 scrape intervals.
    """
    probes = [s for s in samples(query, f'probe_success{{job="{job}"}}', since) if s[0] <= until]
    runs = 0
    start: float | None = None
    previous: float | None = None
    for ts, value in probes:
        broken = previous is not None and ts - previous > 1.5 * interval
        if value != "0" or broken:
            runs += start is not None
            start = None
        if value == "0" and start is None:
            start = ts
        previous = ts
    if start is None:
        raise AssertionError(f"no failed probe of {job} leads to the alert at {until}")
    return start, _result_at(query, job, start), runs
