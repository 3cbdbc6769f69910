"""The image-registry mirror: one rewrite for every image, stand-ins only locally."""

from __future__ import annotations

import pytest

from common.images import STANDIN_NAMESPACE
from components.services.mirror import mirrored, split_registry
from mailstack.config import ConfigError
from tests.conftest import stack_config
from tools.harness import run_program
from tools.images import Failure, advice


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("caddy:2.10.0", "m.internal:5000/library/caddy:2.10.0"),
        ("listmonk/listmonk:v5.0.3", "m.internal:5000/listmonk/listmonk:v5.0.3"),
        (
            "ghcr.io/you/app:1.2@sha256:" + "a" * 64,
            "m.internal:5000/ghcr.io/you/app:1.2@sha256:" + "a" * 64,
        ),
        ("localhost/app:1", "m.internal:5000/localhost/app:1"),
        ("docker.io/library/redis:7", "m.internal:5000/library/redis:7"),
    ],
)
def test_every_registry_maps_onto_the_mirror(ref: str, expected: str) -> None:
    assert mirrored(ref, "m.internal:5000") == expected


def test_no_mirror_leaves_the_reference_alone() -> None:
    assert mirrored("caddy:2.10.0", "") == "caddy:2.10.0"
    assert split_registry("quay.io/minio/minio") == ("quay.io", "minio/minio")


def _images(stack: str, **settings: str) -> list[str]:
    import yaml

    config, secrets = stack_config(stack, set=settings)
    run = run_program(stack, config, secrets)
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    return sorted({s["image"] for s in compose["services"].values()})


def test_the_mirror_reaches_every_service_image() -> None:
    plain = _images("local")
    mirrored_images = _images("local", imageRegistryMirror="mirror.internal:5000")
    assert len(plain) == len(mirrored_images) >= 4
    assert all(i.startswith("mirror.internal:5000/") for i in mirrored_images)
    assert mirrored_images == sorted(mirrored(i, "mirror.internal:5000") for i in plain)


def test_a_server_stack_refuses_the_standins() -> None:
    config, secrets = stack_config("dev", set={"imageRegistryMirror": STANDIN_NAMESPACE})
    with pytest.raises(ConfigError, match=r"mailstack:imageRegistryMirror: .*only the `local`"):
        run_program("dev", config, secrets)


def test_a_bad_mirror_names_its_key() -> None:
    config, secrets = stack_config("local", set={"imageRegistryMirror": "https://m/"})
    with pytest.raises(ConfigError, match="mailstack:imageRegistryMirror"):
        run_program("local", config, secrets)


def test_pull_failures_say_which_why_and_what_to_do() -> None:
    text = advice([Failure("caddy:2.10.0", "dial tcp: lookup registry-1.docker.io: no such host")])
    assert "caddy:2.10.0  dial tcp: lookup registry-1.docker.io" in text
    assert "imageRegistryMirror" in text and "make local STANDINS=1" in text
