"""The mail domain on Cloudflare: web, mail host, MX, SPF, DKIM, DMARC, CAA, MTA-STS.

`MailDomain` creates one `cloudflare.DnsRecord` per `DnsRecordSpec` from
`components.mail_records`, an RSA 2048 key per own DKIM selector, and publishes
the record set as a BIND fragment (`dns/zone.db`) for review. Records are named
`<name>-<spec.key>`; the mail host's are `<name>-mail-a` and `<name>-mail-aaaa`,
the names the server's reverse DNS must match.

DMARC ramp: start at `dmarcPolicy: none`, read the aggregate reports for a few
weeks, then `quarantine`, then `reject` (with `spfAll: -all`); the stack's
`manualSteps` output says where the domain stands.

Imported only for the hetzner target: pulumi_cloudflare costs seconds to import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_tls as tls

from common import artifacts
from components.mail_checklist import manual_steps
from components.mail_records import (
    DnsRecordSpec,
    MailRecordParams,
    RecordValues,
    build_records,
    dkim_public_key_base64,
    records_by_key,
)
from components.zonefile import render_zone_fragment

DKIM_RSA_BITS = 2048
# The tls provider marks these secret itself, but not under mocks; say it again.
_PRIVATE_KEY_OUTPUTS = ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"]


@dataclass(frozen=True)
class MailDomainArgs:
    """Inputs of `MailDomain`."""

    zone_id: str
    """Cloudflare zone id of the domain."""
    records: MailRecordParams
    """What to publish; everything but the deploy-time values."""
    server_ipv4: pulumi.Input[str]
    """The server's primary IPv4 address (its reverse DNS is `records.mail_host`)."""
    server_ipv6: pulumi.Input[str] | None = None
    """The server's primary IPv6 address; required when `records.has_ipv6`."""
    smtp_host: str = ""
    """The SMTP relay host, named in the manual steps when it is not in SPF."""
    stack: str = "<stack>"
    """The Pulumi stack's name, for the commands the manual steps give."""


def _signing(
    params: MailRecordParams, selector: str, key: tls.PrivateKey
) -> pulumi.Output[dict[str, str]]:
    """What the relay signs with (secret): domain, selector, region and the key."""
    signer = {
        "domain": params.domain,
        "selector": selector,
        "sesRegion": params.ses.region if params.ses else "",
    }
    return pulumi.Output.secret(
        key.private_key_pem.apply(lambda pem: {**signer, "privateKeyPem": pem})
    )


def _server_values(args: MailDomainArgs, unknown: RecordValues) -> pulumi.Output[RecordValues]:
    """The server's addresses, checked (the DKIM keys stay placeholders)."""
    return pulumi.Output.all(ipv4=args.server_ipv4, ipv6=args.server_ipv6).apply(
        lambda ips: RecordValues.of_server(ips["ipv4"], ips["ipv6"], unknown.dkim_public_keys)
    )


def _with_key(
    values: RecordValues, selector: str, public_key: pulumi.Output[str]
) -> pulumi.Output[RecordValues]:
    """`values` with the real public key of `selector` (the other values stay placeholders)."""
    return public_key.apply(
        lambda key: replace(values, dkim_public_keys={**values.dkim_public_keys, selector: key})
    )


def _content_of(
    params: MailRecordParams, values: pulumi.Output[RecordValues], key: str
) -> pulumi.Output[str]:
    """The content of record `key` in the record set built from `values`."""
    return values.apply(lambda v: records_by_key(build_records(params, v))[key].content)


def _record_set(
    params: MailRecordParams,
    server: pulumi.Output[RecordValues],
    public_keys: dict[str, pulumi.Output[str]],
) -> pulumi.Output[dict[str, DnsRecordSpec]]:
    """The whole record set, for what needs every value: the review file and the
    `records` output."""
    return pulumi.Output.all(
        server=server, dkim=pulumi.Output.all(**public_keys) if public_keys else {}
    ).apply(
        lambda v: records_by_key(
            build_records(params, replace(v["server"], dkim_public_keys=v["dkim"]))
        )
    )


class MailDomain(pulumi.ComponentResource):
    """Every DNS record of the mail domain, and the DKIM keys they publish."""

    records: pulumi.Output[list[dict[str, Any]]]
    """The records made, as plain dicts (name, type, content, ttl, proxied, priority)."""
    manual_steps: list[str]
    """What remains manual (SES, Hetzner port 25, mailboxes, DMARC ramp)."""
    mail_host_records: list[cloudflare.DnsRecord]
    """The mail host's A/AAAA records: the names and addresses rDNS must match."""
    dkim_selector: str | None
    """The selector mail is signed with; None when SES signs."""
    dkim_signing: pulumi.Output[dict[str, str]] | None
    """What the signer needs (secret): domain, selector, PEM private key and, with SES,
    its region (`make ses-dkim` hands it to SES). None when SES Easy DKIM signs."""
    mta_sts_policy: str | None
    """The MTA-STS policy file the proxy must serve; None when MTA-STS is off."""

    def __init__(
        self, name: str, args: MailDomainArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mailstack:dns:MailDomain", name, None, opts)
        params = args.records
        if params.has_ipv6 and args.server_ipv6 is None:
            raise ValueError("MailDomainArgs: records.has_ipv6 needs server_ipv6")

        keys = self._dkim_keys(name, params.dkim_selectors)
        public_keys = {s: k.public_key_pem.apply(dkim_public_key_base64) for s, k in keys.items()}
        unknown = RecordValues.unknown(params)
        server = _server_values(args, unknown)
        # Each record waits only for the values it publishes: the addresses
        # and SPF for the server's, a DKIM record for its own key alone.
        sources = {f"dkim-{s}": _with_key(unknown, s, k) for s, k in public_keys.items()}

        made: dict[str, cloudflare.DnsRecord] = {}
        for spec in build_records(params, unknown):
            content: pulumi.Input[str] | None = spec.content
            if spec.derived:
                content = _content_of(params, sources.get(spec.key, server), spec.key)
            made[spec.key] = self._record(name, args.zone_id, spec, content)

        live = _record_set(params, server, public_keys)

        self.mail_host_records = [r for k, r in made.items() if k in ("mail-a", "mail-aaaa")]
        self.records = live.apply(lambda m: [spec.as_dict() for spec in m.values()])
        self.manual_steps = manual_steps(params, args.smtp_host, args.stack)
        self.dkim_selector = params.dkim_selectors[-1] if params.dkim_selectors else None
        self.dkim_signing = (
            _signing(params, self.dkim_selector, keys[self.dkim_selector])
            if self.dkim_selector
            else None
        )
        self.mta_sts_policy = (
            params.mta_sts_policy() if params.receives_mail and params.mta_sts_mode else None
        )

        artifacts.publish(
            "dns/zone.db",
            live.apply(lambda m: render_zone_fragment(params.domain, list(m.values()))),
        )
        if self.mta_sts_policy is not None:
            artifacts.publish("dns/mta-sts.txt", self.mta_sts_policy)
        self.register_outputs(
            {
                "records": self.records,
                "manualSteps": self.manual_steps,
                "dkimSelector": self.dkim_selector,
                "dkimSigning": self.dkim_signing,
            }
        )

    def _dkim_keys(self, name: str, selectors: Sequence[str]) -> dict[str, tls.PrivateKey]:
        """One RSA key per published selector (secret outputs, also under mocks)."""
        opts = pulumi.ResourceOptions(parent=self, additional_secret_outputs=_PRIVATE_KEY_OUTPUTS)
        return {
            selector: tls.PrivateKey(
                f"{name}-dkim-{selector}", algorithm="RSA", rsa_bits=DKIM_RSA_BITS, opts=opts
            )
            for selector in selectors
        }

    def _record(
        self, name: str, zone_id: str, spec: DnsRecordSpec, content: pulumi.Input[str] | None
    ) -> cloudflare.DnsRecord:
        data = None
        if spec.caa is not None:
            content = None
            data = cloudflare.DnsRecordDataArgs(
                flags=spec.caa.flags, tag=spec.caa.tag, value=spec.caa.value
            )
        return cloudflare.DnsRecord(
            f"{name}-{spec.key}",
            zone_id=zone_id,
            name=spec.name,
            type=spec.type,
            content=content,
            data=data,
            ttl=spec.ttl,
            proxied=spec.proxied,
            priority=spec.priority,
            comment="managed by mailstack",
            # Cloudflare refuses a CNAME next to other records at its name and a record
            # identical to an existing one, so a replacement (a changed type or zone)
            # that creates before it deletes would fail: the old record goes first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
