"""Types of the app's own keys: its environment, data paths, registry and built images.

Each value is matched whole (`fullmatch`), so no line break or trailing text
passes; the shared loader refuses control characters in every key first.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from common.app_env import is_container_path, is_env_name


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


def _registry_host(value: str) -> str:
    if value and not _REGISTRY_HOST_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a registry host with an optional port; expected e.g. 'ghcr.io'"
        )
    return value


def _registry_user(value: str) -> str:
    if value and not _REGISTRY_USER_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a registry user name; expected letters, digits and '._@+-', "
            "e.g. 'my-org-bot'"
        )
    return value


_REPOSITORY_RE = re.compile(
    r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)+"
)
_REPO_DIR_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _image_repository(value: str) -> str:
    if value and not _REPOSITORY_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a registry host and repository path; expected e.g. "
            "'ghcr.io/acme/mailstack'"
        )
    return value


def _repo_dir(value: str) -> str:
    if value and not _REPO_DIR_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a relative directory of the repo; expected e.g. "
            "'assets/images/mailwizz-php' (no leading '/', '.' or '..')"
        )
    return value


def _optional_sha256(value: str) -> str:
    if value and not _SHA256_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a SHA-256 (64 lowercase hex digits)")
    return value


EnvAssignment = Annotated[str, AfterValidator(_env_assignment)]
ContainerPath = Annotated[str, AfterValidator(_container_path)]
RegistryHost = Annotated[str, AfterValidator(_registry_host)]
RegistryUser = Annotated[str, AfterValidator(_registry_user)]
ImageRepository = Annotated[str, AfterValidator(_image_repository)]
RepoDir = Annotated[str, AfterValidator(_repo_dir)]
OptionalSha256 = Annotated[str, AfterValidator(_optional_sha256)]
