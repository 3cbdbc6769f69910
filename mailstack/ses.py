"""SES as code (`sesAsCode`): the domain identity, DKIM, MAIL FROM and feedback.

pulumi_aws is imported inside `ses_as_code`, so only stacks that manage SES
load it (bench/eval.py reports which SDKs each stack loads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from common.enums import AppPreset
from mailstack.config import StackConfig
from mailstack.outputs import export

if TYPE_CHECKING:
    from components.dns import MailDomain


def ses_feedback_url(config: StackConfig) -> str:
    """Where SES's bounces and complaints go: listmonk's SES webhook, else nowhere."""
    if not config.mail.ses_as_code or config.app.preset is not AppPreset.LISTMONK:
        return ""
    return f"https://{config.domain.app_host}/webhooks/service/ses"


def ses_as_code(config: StackConfig, mail_domain: MailDomain | None) -> None:
    # Imported here: only stacks that manage SES load pulumi_aws.
    from components.ses import OwnDkim, SesArgs, SesDomain

    dkim = None
    if mail_domain is not None and mail_domain.dkim_signing is not None:
        dkim = OwnDkim(
            mail_domain.dkim_selector or "",
            mail_domain.dkim_signing.apply(lambda s: s["privateKeyPem"]),
        )
    ses = SesDomain(
        "ses",
        SesArgs(
            region=config.mail.ses_region,
            domain=config.domain.domain,
            mail_from_domain=config.ses_mail_from,
            dkim=dkim,
            feedback_url=ses_feedback_url(config),
            name=f"mailstack-{pulumi.get_stack()}",
        ),
    )
    export("sesConfigurationSet", ses.configuration_set)
    export("sesFeedbackTopicArn", ses.feedback_topic_arn)
    if dkim is None:
        # Easy DKIM: set these as `sesDkimTokens`; DNS then publishes their CNAMEs.
        export("sesDkimTokens", ses.dkim_tokens)
