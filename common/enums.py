"""The enums every layer shares: stack kinds, images, mail and DNS choices, app presets.

They sit at the bottom (they import nothing of the project), so the config
model, the components and the tooling name the same choices with the same types.
"""

from __future__ import annotations

import enum


class Environment(enum.StrEnum):
    LOCAL = "local"
    DEV = "dev"
    PROD = "prod"


class Target(enum.StrEnum):
    LOCAL = "local"
    """Services on the local Docker engine; no cloud account."""
    HETZNER = "hetzner"
    """A Hetzner Cloud server with DNS on Cloudflare."""


class ServerImage(enum.StrEnum):
    UBUNTU_2404 = "ubuntu-24.04"
    DEBIAN_12 = "debian-12"
    DEBIAN_13 = "debian-13"


class DnsProvider(enum.StrEnum):
    CLOUDFLARE = "cloudflare"
    NONE = "none"


class DmarcPolicy(enum.StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Alignment(enum.StrEnum):
    RELAXED = "r"
    STRICT = "s"


class SpfAll(enum.StrEnum):
    FAIL = "-all"
    SOFTFAIL = "~all"


class DkimSigner(enum.StrEnum):
    AUTO = "auto"
    """SES when `mailRelay: ses` and `sesDkimTokens` are set, else mailstack's own keys."""
    OWN = "own"
    """mailstack's own RSA keys under `dkimSelectors`."""
    SES = "ses"
    """SES Easy DKIM (needs `mailRelay: ses` and `sesDkimTokens`)."""


class MtaStsMode(enum.StrEnum):
    TESTING = "testing"
    ENFORCE = "enforce"


class MailRelay(enum.StrEnum):
    SES = "ses"
    """Amazon SES over SMTP on port 587 (SES signs with Easy DKIM)."""
    SMTP = "smtp"
    """Any other SMTP relay on a submission port."""
    SINK = "sink"
    """A local SMTP sink that catches everything (local stack only)."""


class AppPreset(enum.StrEnum):
    LISTMONK = "listmonk"
    MAILWIZZ = "mailwizz"
    TRANSACTIONAL_API = "transactional-api"
    WEB_API = "web-api"
    CUSTOM = "custom"
