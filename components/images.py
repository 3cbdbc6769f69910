"""Pin every image a host runs by the digest its tag points to at preview.

`docker.get_registry_image` is a data source: Pulumi runs it during `pulumi
preview` as well as `up`, so a tag moved in its registry shows in the diff
(the compose file and the service's deploy trigger carry the digest) and the
deploy pulls exactly what the preview showed. Imported only by stacks that
resolve digests (servers), so the local stack never loads pulumi_docker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pulumi

from common import encode


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for one registry (e.g. GHCR for a private app image)."""

    address: str
    username: str
    password: pulumi.Input[str]
    """Secret."""


def resolve_digests(refs: Iterable[str], login: RegistryLogin | None = None) -> Mapping[str, str]:
    """`name:tag` -> `sha256:...` for every ref, looked up in its registry now."""
    import pulumi_docker as docker

    opts = None
    if login is not None:
        provider = docker.Provider(
            "image-registry",
            registry_auth=[
                docker.ProviderRegistryAuthArgs(
                    address=login.address, username=login.username, password=login.password
                )
            ],
        )
        opts = pulumi.InvokeOptions(provider=provider)
    digests = {}
    for ref in sorted(set(refs)):
        found = docker.get_registry_image(name=ref, opts=opts)
        digests[ref] = found.sha256_digest
    return digests


def login_command(login: RegistryLogin) -> str:
    """`docker login` on the host, the password read from stdin (never in argv)."""
    return (
        f"docker login --username {encode.shell(login.username)} --password-stdin "
        f"{encode.shell(login.address)} >/dev/null"
    )


def logout_command(login: RegistryLogin) -> str:
    return f"docker logout {encode.shell(login.address)} >/dev/null 2>&1 || true"
