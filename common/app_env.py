"""The app's own environment: which names it may set and where its data lives.

Shared by the config (which refuses bad names and paths before any resource)
and the service presets (which refuse them again, as a model invariant).
"""

from __future__ import annotations

import re

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A POSIX environment variable name (full match)."""

RESERVED_PREFIXES = ("SMTP_", "S3_", "REDIS_", "DATABASE_", "LISTMONK_", "MAILWIZZ_")
RESERVED_NAMES = frozenset({"MAIL_FROM", "APP_URL", "PORT", "DATA_DIR", "API_URL"})
"""What the presets set themselves: the relay, the services the stack runs, the URL."""

TRANSACTIONAL_API_DATA = "/data"
TRANSACTIONAL_API_SQLITE = "/data/app.db"
"""transactional-api's data path and database unless `appDataPaths`/`appSqliteFiles` say."""

CONTAINER_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+")
"""An absolute path inside the container: no `..`, no trailing slash (full match)."""


def is_env_name(name: str) -> bool:
    return ENV_NAME.fullmatch(name) is not None


def is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def is_container_path(path: str) -> bool:
    return CONTAINER_PATH.fullmatch(path) is not None and "/.." not in path


def data_volume(path: str) -> str:
    """The named volume that holds one of the app's data paths.

    `/data` keeps the name transactional-api always used (`app-data`), so an
    existing stack keeps its volume.
    """
    if path == "/data":
        return "app-data"
    return "app-data-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def owning_path(file: str, paths: tuple[str, ...] | list[str]) -> str:
    """The data path a file lives under (the longest that contains it), or ''."""
    owners = [p for p in paths if file.startswith(p + "/")]
    return max(owners, key=len) if owners else ""
