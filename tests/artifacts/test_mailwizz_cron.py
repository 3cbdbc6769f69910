"""MailWizz's cron loop, run for real in sh with a fake clock and fake `php`.

The fakes on PATH: `date` prints the clock file, `sleep` advances it (and ends
the loop once the simulated time is up), `php` logs each console command with
the time it started and makes `send-campaigns` take `SEND_SECONDS`.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from tests.services_cases import runs
from tools.harness import Run

__all__ = ["runs"]  # a shared fixture

HOUR, DAY = 3600, 86400
START = 1_700_000_123  # not on a minute, hour or day boundary
SEND_SECONDS = 337
ROUND = 60 + SEND_SECONDS

FAKES = {
    "date": '[ "$1" = +%s ] || exit 2\ncat "$CLOCK"\n',
    "sleep": (
        'now=$(($(cat "$CLOCK") + $1))\necho "$now" >"$CLOCK"\n'
        '[ "$now" -lt "$END" ] || kill -TERM "$PPID"\n'
    ),
    "php": (
        'now=$(cat "$CLOCK")\nshift 3\necho "$now $*" >>"$LOG"\n'
        'if [ "$1" = send-campaigns ]; then echo $((now + SEND_SECONDS)) >"$CLOCK"; fi\n'
    ),
    "touch": 'echo "$(cat "$CLOCK") touch $*" >>"$LOG"\n',
}


@pytest.fixture
def script(runs: dict[tuple[str, str], Run], tmp_path: Path) -> Path:
    """The loop exactly as the files step writes it next to compose.yaml."""
    path = tmp_path / "mailwizz-cron.sh"
    path.write_text(runs[("prod", "mailwizz")].artifacts["compose/mailwizz-cron.sh"].text)
    return path


def run_loop(script: Path, state: Path, start: int, seconds: int) -> list[tuple[int, str]]:
    """Run the loop from `start` for `seconds` of fake time; the commands it ran."""
    work = state.parent
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKES.items():
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\n{body}")
        fake.chmod(0o755)
    log = work / "log"
    log.write_text("")
    (work / "clock").write_text(f"{start}\n")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CLOCK": str(work / "clock"),
        "LOG": str(log),
        "END": str(start + seconds),
        "SEND_SECONDS": str(SEND_SECONDS),
    }
    done = subprocess.run(
        ["sh", str(script), str(state)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -15, done.stderr  # ended by the fake sleep's SIGTERM
    return [
        (int(t), cmd) for t, cmd in (line.split(" ", 1) for line in log.read_text().splitlines())
    ]


def starts(ran: list[tuple[int, str]], command: str) -> list[int]:
    return [t for t, cmd in ran if cmd == command]


def test_hourly_and_daily_run_on_time_however_long_a_round_takes(
    script: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    ran = run_loop(script, state, START, 26 * HOUR)
    rounds = starts(ran, "send-campaigns")
    assert len(rounds) == 26 * HOUR // ROUND + 1
    assert len(starts(ran, "send-transactional-emails")) == len(rounds)
    assert len(starts(ran, "queue")) == len(rounds)
    assert len(starts(ran, "touch /tmp/heartbeat")) == len(rounds)
    hourly, daily = starts(ran, "hourly"), starts(ran, "daily")
    # A fresh state runs both at once; then each as soon as its interval is up.
    assert hourly[0] == daily[0] == START + SEND_SECONDS
    gaps = [b - a for a, b in itertools.pairwise(hourly)]
    assert all(HOUR <= g < HOUR + ROUND for g in gaps), gaps
    # One an hour, late by less than a round, whatever minute the rounds land on.
    assert len(hourly) == 24
    assert len(daily) == 2
    assert DAY <= daily[1] - daily[0] < DAY + ROUND


def test_a_new_loop_over_the_same_state_runs_nothing_early(script: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    first = run_loop(script, state, START, ROUND)
    assert starts(first, "hourly") and starts(first, "daily")
    later = run_loop(script, state, START + 20 * 60, ROUND)
    assert starts(later, "send-campaigns") == [START + 20 * 60]
    assert not starts(later, "hourly") and not starts(later, "daily")
    after_an_hour = run_loop(script, state, START + HOUR + SEND_SECONDS, ROUND)
    assert starts(after_an_hour, "hourly") and not starts(after_an_hour, "daily")


def test_the_loop_passes_shellcheck(script: Path) -> None:
    done = subprocess.run(["shellcheck", "--shell=sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
