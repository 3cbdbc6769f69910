"""The host names mailstack puts under the domain: no two roles on one name."""

from __future__ import annotations

from common.enums import MailRelay
from components.mail_records import null_mx_label
from mailstack.config.model import Problem, StackConfig
from mailstack.config.rules.mail import duplicates


def _host_labels(c: StackConfig) -> list[tuple[str, str]]:
    """(key, label) of every host mailstack names under the domain.

    The app and mail hosts come first, so a clash is reported on the feature
    that adds the second name.
    """
    d = c.domain
    labels = [("appSubdomain", d.app_subdomain), ("mailSubdomain", d.mail_subdomain)]
    if d.www_redirect:
        labels.append(("wwwRedirect", "www"))
    if c.dns.receives_mail and c.dns.mta_sts:
        labels.append(("mtaSts", "mta-sts"))
    if c.mail.relay is MailRelay.SES:
        labels.append(("sesMailFromSubdomain", c.mail.ses_mail_from_subdomain))
    return labels


def dns_names(c: StackConfig) -> list[Problem]:
    """Names that would collide: two roles on one name, or a CNAME beside other records.

    Cloudflare refuses a CNAME next to any other record, and the app (maybe
    proxied) must not share the mail host's name (never proxied).
    """
    d = c.domain
    problems = []
    owner: dict[str, str] = {}
    for key_name, label in _host_labels(c):
        if label in owner:
            problems.append(
                Problem(
                    key_name,
                    f"`{label}.{d.domain}` is already used by `{owner[label]}`; "
                    "each host needs its own name",
                )
            )
        else:
            owner[label] = key_name
    reserved = {d.domain, d.mail_host, f"mta-sts.{d.domain}"}
    if d.www_redirect:
        reserved.add(f"www.{d.domain}")  # a CNAME: no MX or TXT may sit beside it
    if c.mail.relay is MailRelay.SES:
        reserved.add(c.ses_mail_from)
    if dup := duplicates(c.dns.null_mx_names):
        problems.append(Problem("nullMxNames", f"listed twice: {', '.join(dup)}"))
    seen_keys: dict[str, str] = {}
    for i, name in enumerate(c.dns.null_mx_names):
        record_key = null_mx_label(name, d.domain)
        if not name.endswith(f".{d.domain}"):
            problems.append(
                Problem(f"nullMxNames[{i}]", f"{name!r} is not a subdomain of {d.domain!r}")
            )
        elif name in reserved:
            problems.append(
                Problem(
                    f"nullMxNames[{i}]",
                    f"{name!r} sends or receives mail, serves MTA-STS or is the www alias",
                )
            )
        elif record_key in seen_keys and seen_keys[record_key] != name:
            problems.append(
                Problem(
                    f"nullMxNames[{i}]",
                    f"{name!r} and {seen_keys[record_key]!r} would get the same record name "
                    f"(null-mx-{record_key}); keep one of them",
                )
            )
        seen_keys.setdefault(record_key, name)
    return problems
