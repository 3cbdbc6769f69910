"""Backups: on where they must be, with a repository and its secrets."""

from __future__ import annotations

import re

from mailstack.config.model import Problem, StackConfig


def backups(c: StackConfig) -> list[Problem]:
    if c.is_local and c.backup.enabled:
        return [
            Problem(
                "backupEnabled",
                "backups run on servers; the `local` stack has none: set `backupEnabled: false`",
            )
        ]
    if c.is_local or not c.backup.enabled:
        if c.is_prod and not c.backup.enabled:
            return [Problem("backupEnabled", "prod must keep backups on")]
        return []
    problems = []
    if c.is_prod and not c.backup.schedule:
        problems.append(Problem("backupSchedule", "prod must back up on a schedule"))
    if not c.backup.repository:
        problems.append(
            Problem(
                "backupRepository",
                "backups need a restic repository, e.g. "
                "'s3:https://fsn1.your-objectstorage.com/bucket/mailstack'",
            )
        )
    elif c.backup.repository.startswith("b2:"):
        # The job only writes S3 credentials (AWS_*); restic's docs recommend
        # B2's S3-compatible API over its native b2 backend anyway.
        problems.append(
            Problem(
                "backupRepository",
                "b2: repositories are not supported; use Backblaze B2's S3-compatible "
                "endpoint, e.g. 's3:https://s3.us-west-004.backblazeb2.com/bucket/mailstack', "
                "with an application key as backupS3AccessKeyId/backupS3SecretAccessKey",
            )
        )
    elif not re.fullmatch(
        r"(s3:https?://\S+|sftp:\S+|rest:https?://\S+|/\S+)", c.backup.repository
    ):
        problems.append(
            Problem(
                "backupRepository",
                f"{c.backup.repository!r} is not a restic "
                "repository; expected 's3:https://host/bucket/path'",
            )
        )
    if not c.secrets.has("backupPassword"):
        problems.append(
            Problem(
                "backupPassword",
                "missing required secret: `pulumi config set --secret backupPassword ...`",
            )
        )
    if c.backup.repository.startswith("s3:"):
        if not c.backup.s3_access_key_id:
            problems.append(
                Problem("backupS3AccessKeyId", "an s3 backup target needs the access key id")
            )
        if not c.secrets.has("backupS3SecretAccessKey"):
            problems.append(
                Problem(
                    "backupS3SecretAccessKey", "missing required secret for the s3 backup target"
                )
            )
    if c.backup.keep_daily + c.backup.keep_weekly + c.backup.keep_monthly == 0:
        problems.append(Problem("backupKeepDaily", "retention keeps no snapshot at all"))
    return problems
