"""Deterministic stand-ins for what providers compute (ids, addresses, keys).

Keyed by resource type token; each returns the outputs a real provider would
add to the inputs. Unknown types just echo their inputs. Values come from the
documentation ranges (RFC 5737, RFC 3849) so they can never hit a real host.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

Faker = Callable[[str, dict[str, Any]], dict[str, Any]]


def _n(name: str, modulo: int) -> int:
    """A stable small number derived from a resource name."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % modulo


def _primary_ip(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("type") == "ipv6":
        # Hetzner gives a /64; `ipAddress` is its first address, the server uses ::1.
        net = f"2001:db8:{_n(name, 0xFFFF):x}::"
        return {"ipAddress": net, "ipNetwork": f"{net}/64"}
    return {"ipAddress": f"203.0.113.{1 + _n(name, 250)}"}


def _server(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"ipv4Address": f"203.0.113.{1 + _n(name, 250)}", "status": "running"}


# A real RSA 2048 public key whose private half was thrown away: DKIM records
# under mocks look like the real thing and parse, but sign nothing.
FAKE_RSA_PUBLIC_KEY_PEM = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwTkv76RklWXRxlwAhElz
SKxX9AS5ZXv2FNQbwJT9UCPbw3YrwlbKk8/8ewEl0qzwfZ/VbrsmDelDkoUoE1Uq
kd3FcjbrED0pDWk7GdYT2baoezX+1XZVwO3kpTzoyFZpL5lSOqLicPen66vMf2rL
Rl3qqxxBZ9HBSrQElVh4AHbjTRzcosyX0GeNakedknZh1C7NX0LbxRqVZdDLPJsO
4WR3VQw8AoTVp6iaiwtkguG8HOFQsAlU+SZnPYifGlQslGQiMHXnmCq2tOBC15Cr
y7M9DVjrsmOPzSLWbIP+JS08H3/KPzKEp+QeomeAJR6/Y1C3Fxf+NBC6/52HRQjL
UQIDAQAB
-----END PUBLIC KEY-----
"""


def _private_key(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # Name-derived stand-ins, no real private key material. RSA keys (DKIM) get a
    # real public half so their records parse; ED25519 (the deploy key) an
    # OpenSSH-shaped one.
    body = hashlib.sha256(name.encode()).hexdigest()
    if inputs.get("algorithm") == "RSA":
        fake = (
            f"-----BEGIN RSA PRIVATE KEY-----\nfake key of {name}\n-----END RSA PRIVATE KEY-----\n"
        )
        return {
            "publicKeyPem": FAKE_RSA_PUBLIC_KEY_PEM,
            "privateKeyPem": fake,
            "privateKeyPemPkcs8": fake.replace("RSA PRIVATE", "PRIVATE"),
        }
    return {
        "publicKeyOpenssh": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{body[:43]}\n",
        "privateKeyOpenssh": (
            f"-----BEGIN OPENSSH PRIVATE KEY-----\nfake{body}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        "privateKeyPem": f"-----BEGIN PRIVATE KEY-----\nfake{body}\n-----END PRIVATE KEY-----\n",
    }


def _random_password(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # A placeholder, not a password: `make local` swaps it for a real local one.
    return {"result": f"<secret:random:{name}>"}


def _load_balancer(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"ipv4": f"203.0.113.{1 + _n(name, 250)}", "ipv6": f"2001:db8:{_n(name, 0xFFFF):x}::1"}


def _command(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the Swarm steps print: the init step its join tokens (fake, name-derived),
    a join step its node id. Other steps print nothing anyone reads under mocks."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    if name.endswith("-init") and name.startswith("swarm"):
        worker, manager = (f"SWMTKN-1-{digest[:50]}-{k}{digest[:24]}" for k in "wm")
        return {"stdout": f"{worker}\n{manager}\n"}
    if name.startswith("swarm-join-"):
        return {"stdout": f"{digest[:25]}\n"}
    return {}


FAKE_AWS_ACCOUNT = "123456789012"
"""AWS's documentation account id."""


def _aws_arn(service: str, kind: str) -> Faker:
    def faker(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"arn": f"arn:aws:{service}:eu-central-1:{FAKE_AWS_ACCOUNT}:{kind}{name}"}

    return faker


def _ses_identity(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(inputs.get("dkimSigningAttributes") or {})
    if "domainSigningSelector" not in attributes:
        # Easy DKIM: SES hands out three tokens.
        attributes["tokens"] = [
            hashlib.sha256(f"{name}{i}".encode()).hexdigest()[:32] for i in range(3)
        ]
    return {"dkimSigningAttributes": attributes, "arn": f"arn:aws:ses:::identity/{name}"}


FAKERS: dict[str, Faker] = {
    "hcloud:index/loadBalancer:LoadBalancer": _load_balancer,
    "command:remote:Command": _command,
    "aws:sns/topic:Topic": _aws_arn("sns", ""),
    "aws:sesv2/configurationSet:ConfigurationSet": _aws_arn("ses", "configuration-set/"),
    "aws:sesv2/emailIdentity:EmailIdentity": _ses_identity,
    "random:index/randomPassword:RandomPassword": _random_password,
    "hcloud:index/primaryIp:PrimaryIp": _primary_ip,
    "hcloud:index/server:Server": _server,
    "tls:index/privateKey:PrivateKey": _private_key,
}


def fake_id(type_: str, name: str) -> str:
    """Hetzner ids are integers (other resources take them as `int` inputs)."""
    if type_.startswith("hcloud:"):
        return str(10_000_000 + _n(name, 89_999_999))
    return f"{name}-id"


def fake_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    faker = FAKERS.get(type_)
    return faker(name, inputs) if faker else {}


def fake_digest(ref: str) -> str:
    """The digest a registry would report for `ref` under mocks (stable per ref)."""
    return "sha256:" + hashlib.sha256(f"digest of {ref}".encode()).hexdigest()


def _registry_image(args: dict[str, Any]) -> dict[str, Any]:
    return {"name": args["name"], "sha256Digest": fake_digest(args["name"])}


CALLS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "docker:index/getRegistryImage:getRegistryImage": _registry_image,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": FAKE_AWS_ACCOUNT,
        "arn": f"arn:aws:iam::{FAKE_AWS_ACCOUNT}:user/deploy",
        "id": FAKE_AWS_ACCOUNT,
        "userId": "AIDAEXAMPLE",
    },
}


def fake_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """What a provider function (data source) returns under mocks; {} when unknown."""
    call = CALLS.get(token)
    return call(args) if call else {}
