"""What DNS cannot do: the manual steps an operator still owes the mail domain.

Pure, like the record builder it reads; the `MailDomain` component exports the
list so `pulumi stack output manualSteps` shows it after every deploy.
"""

from __future__ import annotations

from components.mail_records import MailRecordParams

DMARC_RAMP = {
    "none": "DMARC is at p=none (monitor only). After 2-4 weeks of aggregate reports showing "
    "only your own senders passing, set `dmarcPolicy: quarantine`, then `reject`.",
    "quarantine": "DMARC is at p=quarantine. When reports stay clean for a few weeks, set "
    "`dmarcPolicy: reject` (with `spfAll: -all`).",
    "reject": "DMARC is at p=reject: keep reading the aggregate reports for new senders.",
}


def manual_steps(
    params: MailRecordParams, smtp_host: str = "", stack: str = "<stack>"
) -> list[str]:
    """Steps in the order an operator does them; each says why and where."""
    p = params
    steps = [
        "Hetzner blocks outbound ports 25 and 465 on cloud servers: mail leaves through the "
        "relay on port 587. Do not ask Hetzner to unblock 25 unless the server delivers "
        "mail itself (`spfServerIps: true`).",
    ]
    if p.ses is not None:
        region = p.ses.region
        if p.ses.dkim_tokens:
            verify = (
                f"Verify the domain identity {p.domain} in SES ({region}) with Easy DKIM; "
                "the three DKIM CNAMEs are published from `sesDkimTokens`."
            )
        elif not p.dkim_selectors:
            # SES as code made the Easy DKIM identity; its tokens are an output.
            verify = (
                f"Copy the stack output `sesDkimTokens` into `sesDkimTokens` and run `pulumi "
                f"up` again: DNS then publishes the three DKIM CNAMEs that verify {p.domain}."
            )
        else:
            selector = p.dkim_selectors[-1]
            verify = (
                f"Hand SES the DKIM key mailstack publishes (selector {selector}): run "
                f"`make ses-dkim STACK={stack}` with AWS credentials (BYODKIM; it creates the "
                f"SES identity {p.domain} in {region} if needed, which also verifies it). "
                "Until then SES signs only as amazonses.com, which does not align for DMARC. "
                "Run it again after every DKIM selector rotation. (Or use SES Easy DKIM: "
                "copy its three tokens into `sesDkimTokens`.)"
            )
        steps += [
            verify,
            f"In SES ({region}), set the custom MAIL FROM domain to {p.ses.mail_from} with "
            '"Reject message" on MX failure, so bounces and SPF align with the domain.',
            f"Request SES production access in {region} (new accounts are in the sandbox and "
            "can send only to verified addresses).",
        ]
    elif p.dkim_selectors:
        steps.append(
            f"DKIM passes only if the relay {smtp_host or '(smtpHost)'} signs with the key "
            f"mailstack publishes (selector {p.dkim_selectors[-1]}): upload it to the relay "
            "from `pulumi stack output --show-secrets dkimSigning`, where the relay supports "
            "custom DKIM keys; otherwise use the relay's own DKIM setup for the domain."
        )
    if p.ses is None and not p.spf_includes and not p.spf_server_ips:
        steps.append(
            f"The SMTP relay {smtp_host or '(smtpHost)'} is not in SPF: add its SPF domain to "
            "`spfIncludes`, or configure it to use its own return-path domain (then DMARC "
            "passes through DKIM alone)."
        )
    if p.spf_includes:
        steps.append(
            f"SPF includes {', '.join(p.spf_includes)}: their own nested lookups count "
            f"toward the limit of 10; run `checkdmarc {p.domain}` after publishing."
        )
    inbox = (
        f"they are delivered to {p.mail_host}"
        if p.receives_mail
        else "your existing mail provider for the domain must host them"
    )
    steps.append(
        f"Create the mailboxes postmaster@{p.domain} and abuse@{p.domain} (RFC 2142) and "
        f"{p.dmarc.rua} for DMARC reports; {inbox}."
    )
    rua_domain = p.dmarc.rua.rsplit("@", 1)[1]
    if rua_domain != p.domain and not rua_domain.endswith(f".{p.domain}"):
        steps.append(
            f"DMARC reports go to another domain: {rua_domain} must publish the TXT record "
            f'{p.domain}._report._dmarc.{rua_domain} "v=DMARC1" (RFC 7489 §7.1), or '
            "receivers drop the reports."
        )
    if p.receives_mail:
        steps.append(
            f"MX points at {p.mail_host}: inbound port 25 must be open on the server firewall "
            "(`firewallExtraTcpPorts`) and an MTA must accept mail for the domain there."
        )
    steps.append(DMARC_RAMP[p.dmarc.policy])
    return steps
