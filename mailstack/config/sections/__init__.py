"""The config sections: every Pulumi key, its type, default and documentation.

Every key is a flat, typed Pulumi key (`mailstack:serverType`), because
Pulumi.yaml can declare type, description and default only for strings,
integers, booleans and arrays. In Python the keys are grouped into sections;
each field's alias is its Pulumi key, its description is the generated docs.

    base  `key()` and `Section`
    host  stack, domain, server, admin
    mail  DNS and mail authentication, the relay
    app   app, services, backups, secret keys
"""

from __future__ import annotations

from mailstack.config.sections.app import AppSection, BackupSection, SecretKeys, ServicesSection
from mailstack.config.sections.base import Section, key
from mailstack.config.sections.host import AdminSection, DomainSection, ServerSection, StackSection
from mailstack.config.sections.mail import DnsSection, MailSection

SECTIONS: dict[str, type[Section]] = {
    "stack": StackSection,
    "domain": DomainSection,
    "server": ServerSection,
    "admin": AdminSection,
    "dns": DnsSection,
    "mail": MailSection,
    "app": AppSection,
    "services": ServicesSection,
    "backup": BackupSection,
    "secrets": SecretKeys,
}

__all__ = [
    "SECTIONS",
    "AdminSection",
    "AppSection",
    "BackupSection",
    "DnsSection",
    "DomainSection",
    "MailSection",
    "SecretKeys",
    "Section",
    "ServerSection",
    "ServicesSection",
    "StackSection",
    "key",
]
