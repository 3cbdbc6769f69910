"""Object storage: MinIO is gone, buckets are S3 names, the public host is its own."""

from __future__ import annotations

from common.enums import AppPreset
from mailstack.config.model import Problem, StackConfig

MINIO_GONE = (
    "MinIO is gone: its community images stopped in October 2025 and left Docker Hub on "
    "2026-09-12, so nothing could pull them; use `storage: true` (SeaweedFS, see "
    "docs/storage.md) with `storageBuckets`"
)


def runs_storage(c: StackConfig) -> bool:
    return c.services.storage or c.app.preset is AppPreset.WEB_API


def storage(c: StackConfig) -> list[Problem]:
    s = c.services
    problems = []
    if s.minio:
        problems.append(Problem("minio", MINIO_GONE))
    if s.minio_buckets:
        problems.append(Problem("minioBuckets", MINIO_GONE))
    for i, bucket in enumerate(s.storage_buckets):
        if len(bucket) < 3:
            problems.append(
                Problem(f"storageBuckets[{i}]", f"{bucket!r}: S3 needs 3 to 63 characters")
            )
        if s.storage_buckets.index(bucket) != i:
            problems.append(Problem(f"storageBuckets[{i}]", f"{bucket!r} is listed twice"))
    if s.storage_subdomain and not runs_storage(c):
        problems.append(Problem("storageSubdomain", "needs `storage: true` (or `app: web-api`)"))
    taken = {c.domain.app_subdomain, c.domain.mail_subdomain, "www", "mta-sts"}
    if s.storage_subdomain in taken:
        problems.append(
            Problem("storageSubdomain", f"{s.storage_subdomain!r} is taken by another host")
        )
    if c.is_local and runs_storage(c):
        ports = {c.services.local_http_port, c.services.local_mail_ui_port}
        if s.local_storage_port in ports:
            problems.append(
                Problem(
                    "localStoragePort", "must differ from `localHttpPort` and `localMailUiPort`"
                )
            )
    return problems
