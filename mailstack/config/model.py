"""The validated stack config: the sections together, its secrets, and its problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

import pulumi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from common.enums import DkimSigner, DnsProvider, Environment, MailRelay, Target
from mailstack.config.sections import (
    SECTIONS,
    AdminSection,
    AppSection,
    BackupSection,
    DnsSection,
    DomainSection,
    MailSection,
    ServerSection,
    ServicesSection,
    StackSection,
)

PROJECT = "mailstack"


@dataclass(frozen=True)
class KeySpec:
    """One Pulumi config key and where it lives in the model."""

    section: str
    field: str
    alias: str
    info: FieldInfo

    @property
    def is_list(self) -> bool:
        return get_origin(_unwrap(self.info.annotation)) is list

    @property
    def secret(self) -> bool:
        return bool(self._extra.get("secret"))

    @property
    def example(self) -> str:
        return str(self._extra.get("example", ""))

    @property
    def _extra(self) -> JsonDict:
        extra = self.info.json_schema_extra
        return extra if isinstance(extra, dict) else {}


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def key_specs() -> list[KeySpec]:
    """Every config key, in documentation order."""
    return [
        KeySpec(section, name, str(info.alias), info)
        for section, model in SECTIONS.items()
        for name, info in model.model_fields.items()
    ]


# --- secrets ----------------------------------------------------------------------


class Secrets:
    """Secret config values, only ever as Pulumi secret Outputs."""

    def __init__(
        self, present: Mapping[str, bool], names: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        self._present = dict(present)
        self._names = dict(names or {})
        self._config = pulumi.Config(PROJECT)

    def names(self, alias: str) -> tuple[str, ...]:
        """The member names of a secret object key (e.g. `appSecretEnv`); not secret."""
        return self._names.get(alias, ())

    def member(self, alias: str, name: str) -> pulumi.Output[str]:
        """One member of a secret object key, as a secret Output."""
        whole = self._config.require_secret_object(alias)
        return pulumi.Output.secret(whole.apply(lambda value: str(value[name])))

    def has(self, alias: str) -> bool:
        return self._present.get(alias, False)

    def get(self, alias: str) -> pulumi.Output[str]:
        """The secret as an Output; raises if the key is unset (validation prevents it)."""
        return self._config.require_secret(alias)


# --- the model ------------------------------------------------------------------


class StackConfig(BaseModel):
    """The validated configuration of one stack."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    stack: StackSection
    domain: DomainSection
    server: ServerSection
    admin: AdminSection
    dns: DnsSection
    mail: MailSection
    app: AppSection
    services: ServicesSection
    backup: BackupSection
    secrets: Secrets = Field(exclude=True)

    @property
    def is_prod(self) -> bool:
        return self.stack.environment is Environment.PROD

    @property
    def is_local(self) -> bool:
        return self.stack.target is Target.LOCAL

    @property
    def uses_dns(self) -> bool:
        return not self.is_local and self.dns.provider is DnsProvider.CLOUDFLARE

    @property
    def dmarc_rua(self) -> str:
        return self.dns.dmarc_rua or f"dmarc@{self.domain.domain}"

    @property
    def from_address(self) -> str:
        return self.mail.from_address or f"noreply@{self.domain.domain}"

    @property
    def ses_signs_dkim(self) -> bool:
        """SES Easy DKIM signs; otherwise mailstack's own key does."""
        if self.dns.dkim_signer is DkimSigner.AUTO:
            return self.mail.relay is MailRelay.SES and bool(self.dns.ses_dkim_tokens)
        return self.dns.dkim_signer is DkimSigner.SES

    @property
    def ses_mail_from(self) -> str:
        return f"{self.mail.ses_mail_from_subdomain}.{self.domain.domain}"


# --- errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    namespace: str = PROJECT

    def __str__(self) -> str:
        return f"{self.namespace}:{self.key}: {self.message}"


class ConfigError(Exception):
    """Every problem with a stack's config, found before any resource is made."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.key, p.message))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")
