"""Where service images come from: the test stand-ins never leave the laptop."""

from __future__ import annotations

from common.images import STANDIN_NAMESPACE
from mailstack.config.model import Problem, StackConfig


def standins_local_only(c: StackConfig) -> list[Problem]:
    """The stand-ins are test fakes built from Debian packages, not the apps.

    A server stack that pulled them would run fakes in production (and fail:
    they exist only on the machine that built them).
    """
    mirror = c.services.image_registry_mirror
    if c.is_local or mirror.split("/")[0] != STANDIN_NAMESPACE:
        return []
    return [
        Problem(
            "imageRegistryMirror",
            f"{mirror!r} names the local test stand-ins, which only the `local` stack may "
            "run; set a registry mirror the server can reach, or leave it empty",
        )
    ]
