"""Releases on the rendered `local` stack: recorded, rolled back by themselves, and by hand.

The deploy steps record each release of the app (image by id, configuration)
in `build/local/releases`. A release that never turns healthy comes back to
the last good one on its own, on the recreate path (listmonk) and on the
start-first path, while a writer commits through the proxy: every write the
app acknowledged is still there afterwards. Each path's unavailability window
(the longest time between two successful writes) is measured and printed,
never asserted. Then `make rollback` brings back the release before the last,
over a stand-in `ssh` that runs the remote command here.
"""

from __future__ import annotations

import http.client
import itertools
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.images.build import BROKEN_LISTMONK, NEXT_LISTMONK
from tests.e2e.localstack import LocalStack, repeat_during, running
from tests.e2e.start_first import start_first_listmonk
from tests.fake_ops import FakeOps
from tools.harness import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STACK = "e2e-release"
"""The Pulumi stack name `make rollback` is given: its compose project is the test's."""
ID_LEN = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("release-e2e"),
        project=f"mailstack-{STACK}",
        http_port=18780,
        mail_ui_port=18725,
        settings={},
    )
    try:
        with running(stack):
            yield stack
    finally:
        # After the stack is down: Docker keeps an image a container still uses.
        _remove_release_tags(stack)


def _remove_release_tags(stack: LocalStack) -> None:
    """The tags the app's releases pinned their images with."""
    if (stack.root / "build" / "local-releases" / "app" / "history").exists():
        tags = {f"mailstack-release/app:{r['id']}" for r in history(stack)}
        subprocess.run(["docker", "image", "rm", *sorted(tags)], capture_output=True, check=False)


def history(stack: LocalStack, service: str = "app") -> list[dict[str, str]]:
    path = stack.root / "build" / "local-releases" / service / "history"
    names = ("id", "time", "outcome", "image", "digest", "config", "snapshot")
    return [
        dict(zip(names, line.split("\t"), strict=True)) for line in path.read_text().splitlines()
    ]


def serving_version(stack: LocalStack) -> str:
    status, headers, _ = stack.get("/")
    assert status == 200
    return headers["X-App-Version"]


@dataclass
class Writes:
    """Subscribers POSTed through the proxy in a loop while an action runs."""

    acked: list[str] = field(default_factory=list)
    failures: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """What the failed writes got: an HTTP status, or the exception's type."""
    done_at: list[float] = field(default_factory=list)
    """When each acknowledged write returned (monotonic seconds)."""

    def longest_gap(self, start: float, end: float) -> float:
        """The unavailability window: the longest time without a successful write."""
        times = [start, *sorted(self.done_at), end]
        return max(b - a for a, b in itertools.pairwise(times))


def writing_during(stack: LocalStack, tag: str, action: Callable[[], Any]) -> tuple[Writes, float]:
    """Run `action` while a writer commits; return the writes and the window in seconds."""
    writes = Writes()
    emails = (f"{tag}-{n}@example.org" for n in itertools.count(1))

    def write() -> bool:
        email = next(emails)
        try:
            status = stack.post_json("/api/subscribers", {"email": email})
            if status == 201:
                writes.acked.append(email)
                writes.done_at.append(time.monotonic())
                return True
            writes.errors[str(status)] += 1
        except urllib.error.HTTPError as err:
            writes.errors[str(err.code)] += 1
        except (OSError, http.client.HTTPException) as err:
            writes.errors[type(err).__name__] += 1
        writes.failures += 1
        time.sleep(0.05)
        return True

    def framed() -> None:
        # Some writes before the deploy starts, so the window is measured from service.
        time.sleep(1)
        action()
        time.sleep(1)

    start = time.monotonic()
    repeat_during(framed, write)
    return writes, writes.longest_gap(start, time.monotonic())


def stored_subscribers(stack: LocalStack) -> set[str]:
    status, _, body = stack.get("/api/subscribers")
    assert status == 200
    return set(json.loads(body)["data"])


def test_each_good_deploy_is_recorded_with_its_image_and_configuration(
    stack: LocalStack,
) -> None:
    stack.deploy("app")
    stack.synth(appImage=NEXT_LISTMONK)
    stack.deploy("app")
    first, second = history(stack)
    assert [first["outcome"], second["outcome"]] == ["ok", "ok"]
    assert first["id"] != second["id"] and len(second["id"]) == ID_LEN
    assert first["image"] != second["image"] and second["image"].startswith("sha256:")
    assert first["snapshot"] == second["snapshot"] == "-"  # the local stack has no backups
    (app,) = stack.containers("app")
    assert app["Image"] == second["image"]
    for r in (first, second):
        saved = stack.root / "build" / "local-releases" / "app" / r["id"]
        assert (saved / "compose.yaml").is_file()
        assert (saved / "env").stat().st_mode & 0o777 == 0o600
        pinned = subprocess.run(
            [
                "docker",
                "image",
                "inspect",
                "-f",
                "{{.Id}}",
                f"mailstack-release/app:{r['id']}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert pinned == r["image"]
    assert serving_version(stack) == "v5.0.4"


def test_a_failed_recreate_rolls_back_to_the_last_good_release(stack: LocalStack) -> None:
    good = history(stack)[-1]
    stack.synth(appImage=BROKEN_LISTMONK)
    deploys: list[subprocess.CompletedProcess[str]] = []
    writes, window = writing_during(
        stack, "recreate", lambda: deploys.append(stack.deploy("app", check=False))
    )
    (deploy,) = deploys
    print(
        f"\nrecreate path, failed release: unavailable {window:.1f}s (longest time between "
        f"two acknowledged writes), {writes.failures} failed writes {dict(writes.errors)}, "
        f"{len(writes.acked)} acked"
    )
    assert deploy.returncode != 0
    assert f"rolled back to release {good['id']}, which serves" in deploy.stderr
    assert "the new container did not turn healthy" in deploy.stderr
    *_, failed, back = history(stack)
    assert (failed["outcome"], back["outcome"], back["id"]) == ("failed", "rollback", good["id"])
    (app,) = stack.containers("app")
    assert app["Image"] == good["image"]
    assert app["State"]["Health"]["Status"] == "healthy"
    assert serving_version(stack) == "v5.0.4"
    assert writes.acked, "the writer never committed"
    missing = set(writes.acked) - stored_subscribers(stack)
    assert not missing, f"{len(missing)} acknowledged writes were lost"


def test_a_failed_start_first_update_keeps_the_old_release_serving(stack: LocalStack) -> None:
    (before,) = stack.containers("app")
    current = history(stack)[-1]
    stack.synth(program=start_first_listmonk, appImage=BROKEN_LISTMONK)
    deploys: list[subprocess.CompletedProcess[str]] = []
    writes, window = writing_during(
        stack, "start-first", lambda: deploys.append(stack.deploy("app", check=False))
    )
    (deploy,) = deploys
    print(
        f"\nstart-first path, failed release: unavailable {window:.1f}s (longest time between "
        f"two acknowledged writes), {writes.failures} failed writes {dict(writes.errors)}, "
        f"{len(writes.acked)} acked"
    )
    assert deploy.returncode != 0
    assert "removed it, the old one keeps serving" in deploy.stderr
    assert history(stack)[-1]["outcome"] == "failed"
    (after,) = stack.containers("app")
    assert after["Id"] == before["Id"] and after["Image"] == current["image"]
    assert serving_version(stack) == "v5.0.4"
    missing = set(writes.acked) - stored_subscribers(stack)
    assert writes.acked and not missing, f"{len(missing)} acknowledged writes were lost"
    # The project files as the running stack is, for the test after this one.
    stack.synth(appImage=NEXT_LISTMONK)
    stack.write_files()


def _ssh_here(directory: Path) -> Path:
    """An `ssh` that runs the remote command (the word after `--`) on this machine."""
    directory.mkdir()
    ssh = directory / "ssh"
    ssh.write_text(
        "#!/bin/sh\n"
        'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done\n'
        'shift\nexec sh -c "$1"\n'
    )
    ssh.chmod(0o755)
    return directory


def _make(
    stack: LocalStack, fakes: FakeOps, ssh_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = fakes.env(f"{ssh_dir}:{fakes.bin}:{fakes.env()['PATH']}")
    env["COMPOSE_PROJECT_NAME"] = stack.project
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"PY={sys.executable}", f"STACK={STACK}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def test_make_rollback_brings_back_the_release_before_the_last(
    stack: LocalStack, tmp_path: Path
) -> None:
    releases = history(stack)
    good = [r for r in releases if r["outcome"] in ("ok", "rollback")]
    current = good[-1]
    before = next(r for r in reversed(good) if r["id"] != current["id"])
    assert serving_version(stack) == "v5.0.4"
    fakes = FakeOps.create(tmp_path / "fakes", tools=("pulumi",))
    outputs = {"sshCommand": "ssh deploy@127.0.0.1", "dataDir": str(stack.root / "build" / "local")}
    fakes.rule("pulumi", ["stack", "output", "--json", "--stack", STACK], json.dumps(outputs))
    ssh_dir = _ssh_here(tmp_path / "ssh")

    listed = _make(stack, fakes, ssh_dir, "releases")
    assert listed.returncode == 0, listed.stderr
    assert current["id"] in listed.stdout and before["id"] in listed.stdout

    done = _make(stack, fakes, ssh_dir, "rollback")
    assert done.returncode == 0, done.stderr
    assert f"serves release {before['id']}" in done.stderr
    assert history(stack)[-1]["outcome"] == "rollback"
    assert history(stack)[-1]["id"] == before["id"]
    (app,) = stack.containers("app")
    assert app["Image"] == before["image"]
    assert serving_version(stack) == "v5.0.3"

    refused = _make(stack, fakes, ssh_dir, "rollback", "TO=ffffffffffff")
    assert refused.returncode != 0
    assert "release ffffffffffff is not a recorded good release" in refused.stderr
    assert serving_version(stack) == "v5.0.3"
