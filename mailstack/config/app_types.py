"""Types of the app's own keys: its environment, data paths, registry and built images.

Each value is matched whole (`fullmatch`), so no line break or trailing text
passes; the shared loader refuses control characters in every key first.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from common.app_env import is_container_path, is_env_name
from mailstack.config.types import full_match


def _env_assignment(value: str) -> str:
    name, sep, rest = value.partition("=")
    if not sep or not is_env_name(name) or re.search(r"[\x00-\x1f\x7f]", rest):
        raise ValueError(
            f"{value!r} is not NAME=value; expected e.g. 'LOG_LEVEL=info' (a name of letters, "
            "digits and '_', not starting with a digit; a value on one line)"
        )
    return value


def _container_path(value: str) -> str:
    if not is_container_path(value):
        raise ValueError(
            f"{value!r} is not an absolute path in the container; expected e.g. '/data' "
            "(letters, digits, '.', '_', '-'; no '..', no trailing '/')"
        )
    return value


_REGISTRY_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?")
_REGISTRY_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")
_REPOSITORY_RE = re.compile(
    r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)+"
)
_REPO_DIR_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


EnvAssignment = Annotated[str, AfterValidator(_env_assignment)]
ContainerPath = Annotated[str, AfterValidator(_container_path)]
RegistryHost = Annotated[
    str,
    full_match(
        _REGISTRY_HOST_RE,
        "a registry host with an optional port; expected e.g. 'ghcr.io'",
        optional=True,
    ),
]
RegistryUser = Annotated[
    str,
    full_match(
        _REGISTRY_USER_RE,
        "a registry user name; expected letters, digits and '._@+-', e.g. 'my-org-bot'",
        optional=True,
    ),
]
ImageRepository = Annotated[
    str,
    full_match(
        _REPOSITORY_RE,
        "a registry host and repository path; expected e.g. 'ghcr.io/acme/mailstack'",
        optional=True,
    ),
]
RepoDir = Annotated[
    str,
    full_match(
        _REPO_DIR_RE,
        "a relative directory of the repo; expected e.g. 'assets/images/mailwizz-php' "
        "(no leading '/', '.' or '..')",
        optional=True,
    ),
]
OptionalSha256 = Annotated[
    str, full_match(_SHA256_RE, "a SHA-256 (64 lowercase hex digits)", optional=True)
]
