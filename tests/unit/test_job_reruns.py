"""A step runs again when what it acts on changes, and not otherwise.

listmonk reads its SMTP settings from its database at start, and the
`app-settings` job writes them there: a relay change that re-ran only the job
would leave listmonk sending with the old host and credentials (a rotated SES
password never taking effect, and every mail failing once the old key goes).
"""

from __future__ import annotations

import pytest

from tests.conftest import RunStack
from tools.harness import Run


def _triggers(run: Run, name: str) -> object:
    return run.named(name).inputs["triggers"]


@pytest.mark.parametrize(
    "change",
    [
        {"set": {"smtpHost": "email-smtp.eu-west-1.amazonaws.com"}},
        {"secrets": {"smtpPassword": "rotated-secret-value"}},
        {"set": {"fromAddress": "hello@example.com"}},
    ],
    ids=["smtpHost", "smtpPassword", "fromAddress"],
)
def test_a_relay_change_restarts_the_app_as_well_as_its_settings_job(
    run_stack: RunStack, change: dict[str, dict[str, str]]
) -> None:
    before, after = run_stack("prod"), run_stack("prod", **change)
    assert _triggers(before, "services-app-settings-deploy") != _triggers(
        after, "services-app-settings-deploy"
    )
    assert _triggers(before, "services-app-deploy") != _triggers(after, "services-app-deploy")


def test_nothing_changed_restarts_nothing(run_stack: RunStack) -> None:
    first, second = run_stack("prod"), run_stack("prod")
    for reg in first.of_type("command:remote:Command"):
        assert reg.inputs.get("triggers") == _triggers(second, reg.name), reg.name


def test_a_new_backup_repository_is_initialised_and_its_status_read(run_stack: RunStack) -> None:
    """`mailstack-backup run` does not create a repository: without a new init, every
    backup to the new place would fail, and the stack output would show the old one."""
    before = run_stack("prod")
    after = run_stack(
        "prod", set={"backupRepository": "s3:https://fsn1.your-objectstorage.com/other/prod"}
    )
    for step in ("backup-init", "backup-status"):
        assert _triggers(before, step) != _triggers(after, step), step
    # What a repository change does not concern stays as it was.
    assert _triggers(before, "backup-timers") == _triggers(after, "backup-timers")
