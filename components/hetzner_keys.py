"""Which admin keys Hetzner's SSH-key API takes (pure).

Hetzner's API answers an unknown type with "SSH key type is invalid (supported
types: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384,
ecdsa-sha2-nistp521, ssh-dss, sk-ssh-ed25519, sk-ecdsa-sha2-nistp256, ...)"
(quoted in terraform-hcloud-kube-hetzner issue #310, 2022). Its security-key
names lack the `@openssh.com` that every real key line carries, so whether it
takes an `sk-...@openssh.com` line could not be checked without an account:
those keys are not registered with Hetzner. Nothing is lost: Hetzner's key
only seeds root's authorized_keys at first boot (root login is off), while
every admin key reaches the admin user's authorized_keys through cloud-init
and the access step, and the deploy key (ed25519) is always registered.
"""

from __future__ import annotations

HETZNER_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)


def hetzner_accepts(public_key: str) -> bool:
    """Does Hetzner's API take this OpenSSH public key line (by its type)?"""
    return public_key.split(maxsplit=1)[0] in HETZNER_KEY_TYPES
