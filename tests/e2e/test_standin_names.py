"""No image built here carries an official image's name.

`docker compose` pulls only missing images: a locally built stand-in tagged
`postgres:17.5` would silently replace the real one in a user's `make local`.
Every image that is labelled a stand-in or built on the Debian base image must
be named in a `mailstack-*` namespace.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from common.images import STANDIN_LABEL
from tests.e2e.images.build import DEBIAN, build_all

pytestmark = [pytest.mark.e2e]


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def _built_here() -> dict[str, list[str]]:
    """Image id -> tags, for every image labelled a stand-in or built FROM the base."""
    base_layers = json.loads(_docker("image", "inspect", DEBIAN))[0]["RootFS"]["Layers"]
    ids = sorted(set(_docker("image", "ls", "-q", "--no-trunc").split()))
    built = {}
    for image in json.loads(_docker("image", "inspect", *ids)):
        labels = image["Config"].get("Labels") or {}
        layers = image["RootFS"].get("Layers", [])
        if labels.get(STANDIN_LABEL) == "true" or layers[: len(base_layers)] == base_layers:
            built[image["Id"]] = image["RepoTags"] or []
    return built


def test_no_image_built_here_has_an_official_name() -> None:
    build_all()
    built = _built_here()
    assert len(built) >= 8, "the stand-ins were not found: the check would see nothing"
    official = sorted(t for tags in built.values() for t in tags if not t.startswith("mailstack-"))
    assert official == [], f"images built here under official names: {official}"
