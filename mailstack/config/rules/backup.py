"""Backups: on where they must be, with a repository and its secrets."""

from __future__ import annotations

import re

from mailstack.config.model import Problem, StackConfig


def backups(c: StackConfig) -> list[Problem]:
    if c.is_local:
        return _local_backups(c)
    if not c.backup.enabled:
        return [Problem("backupEnabled", "prod must keep backups on")] if c.is_prod else []
    problems = []
    if c.is_prod and not c.backup.schedule:
        problems.append(Problem("backupSchedule", "prod must back up on a schedule"))
    problems += _repository(c.backup.repository)
    if not c.secrets.has("backupPassword"):
        problems.append(
            Problem(
                "backupPassword",
                "missing required secret: `pulumi config set --secret backupPassword ...`",
            )
        )
    if c.backup.repository.startswith("s3:"):
        problems += _s3_credentials(c)
    if c.backup.keep_daily + c.backup.keep_weekly + c.backup.keep_monthly == 0:
        problems.append(Problem("backupKeepDaily", "retention keeps no snapshot at all"))
    return problems


def _local_backups(c: StackConfig) -> list[Problem]:
    if not c.backup.enabled:
        return []
    return [
        Problem(
            "backupEnabled",
            "backups run on servers; the `local` stack has none: set `backupEnabled: false`",
        )
    ]


def _repository(repository: str) -> list[Problem]:
    if not repository:
        return [
            Problem(
                "backupRepository",
                "backups need a restic repository, e.g. "
                "'s3:https://fsn1.your-objectstorage.com/bucket/mailstack'",
            )
        ]
    if repository.startswith("b2:"):
        # The job only writes S3 credentials (AWS_*); restic's docs recommend
        # B2's S3-compatible API over its native b2 backend anyway.
        return [
            Problem(
                "backupRepository",
                "b2: repositories are not supported; use Backblaze B2's S3-compatible "
                "endpoint, e.g. 's3:https://s3.us-west-004.backblazeb2.com/bucket/mailstack', "
                "with an application key as backupS3AccessKeyId/backupS3SecretAccessKey",
            )
        ]
    if not re.fullmatch(r"(s3:https?://\S+|sftp:\S+|rest:https?://\S+|/\S+)", repository):
        return [
            Problem(
                "backupRepository",
                f"{repository!r} is not a restic repository; expected 's3:https://host/bucket/path'",
            )
        ]
    return []


def _s3_credentials(c: StackConfig) -> list[Problem]:
    problems = []
    if not c.backup.s3_access_key_id:
        problems.append(
            Problem("backupS3AccessKeyId", "an s3 backup target needs the access key id")
        )
    if not c.secrets.has("backupS3SecretAccessKey"):
        problems.append(
            Problem("backupS3SecretAccessKey", "missing required secret for the s3 backup target")
        )
    return problems
