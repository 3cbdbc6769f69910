"""SES as code: the domain identity, its DKIM, MAIL FROM and bounce/complaint feedback.

`SesDomain` (`mailstack:ses:Domain`) makes, in the stack's SES region:

- the domain's email identity, signed either with mailstack's own DKIM key
  (BYODKIM: SES signs with the key whose public half DNS already publishes
  under `<selector>._domainkey`, so the identity verifies through that record)
  or with SES Easy DKIM (its three tokens are an output: set them as
  `sesDkimTokens` and DNS publishes their CNAMEs);
- the custom MAIL FROM domain (its MX and SPF records are in mail_records);
- a configuration set, the identity's default, whose bounce and complaint
  events go to an SNS topic that only this configuration set may publish to,
  and from there over HTTPS to the app when the preset takes them (listmonk's
  SES webhook; listmonk confirms the subscription itself).

Imported only by stacks that manage SES, so the others never load pulumi_aws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

FEEDBACK_EVENTS = ("BOUNCE", "COMPLAINT")


def private_key_body(pem: str) -> str:
    """The key as SES takes it: the PEM body, without armour lines or line breaks."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or "PRIVATE KEY" not in lines[0]:
        raise ValueError("the DKIM key is not a PEM private key")
    return "".join(line for line in lines[1:] if not line.startswith("-----"))


@dataclass(frozen=True)
class OwnDkim:
    """mailstack's own DKIM key (BYODKIM)."""

    selector: str
    private_key_pem: pulumi.Input[str]
    """Secret."""


@dataclass(frozen=True)
class SesArgs:
    region: str
    domain: str
    mail_from_domain: str
    """`<sesMailFromSubdomain>.<domain>`."""
    dkim: OwnDkim | None
    """None: SES Easy DKIM signs."""
    feedback_url: str = ""
    """HTTPS endpoint that takes SES notifications over SNS; empty: none (the topic
    still collects them)."""
    name: str = "mailstack"
    """Prefix of the AWS resource names (the stack's compose project name)."""


class SesDomain(pulumi.ComponentResource):
    configuration_set: pulumi.Output[str]
    feedback_topic_arn: pulumi.Output[str]
    dkim_tokens: pulumi.Output[list[str]]
    """Easy DKIM's tokens (empty with BYODKIM)."""

    def __init__(self, name: str, args: SesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mailstack:ses:Domain", name, None, opts)
        provider = aws.Provider(
            f"{name}-aws", region=args.region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        config_set = aws.sesv2.ConfigurationSet(
            f"{name}-configuration-set",
            configuration_set_name=f"{args.name}-feedback",
            reputation_options=aws.sesv2.ConfigurationSetReputationOptionsArgs(
                reputation_metrics_enabled=True
            ),
            opts=child,
        )
        signing = None
        if args.dkim is not None:
            signing = aws.sesv2.EmailIdentityDkimSigningAttributesArgs(
                domain_signing_selector=args.dkim.selector,
                domain_signing_private_key=pulumi.Output.secret(
                    pulumi.Output.from_input(args.dkim.private_key_pem).apply(private_key_body)
                ),
            )
        else:
            signing = aws.sesv2.EmailIdentityDkimSigningAttributesArgs(
                next_signing_key_length="RSA_2048_BIT"
            )
        identity = aws.sesv2.EmailIdentity(
            f"{name}-identity",
            email_identity=args.domain,
            configuration_set_name=config_set.configuration_set_name,
            dkim_signing_attributes=signing,
            opts=child,
        )
        aws.sesv2.EmailIdentityMailFromAttributes(
            f"{name}-mail-from",
            email_identity=identity.email_identity,
            mail_from_domain=args.mail_from_domain,
            behavior_on_mx_failure="USE_DEFAULT_VALUE",
            opts=child,
        )
        topic = aws.sns.Topic(f"{name}-feedback", name=f"{args.name}-ses-feedback", opts=child)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=provider))
        aws.sns.TopicPolicy(
            f"{name}-feedback-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, config_set.arn, caller.account_id).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "SesPublishesFeedback",
                                "Effect": "Allow",
                                "Principal": {"Service": "ses.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": v[0],
                                "Condition": {
                                    "StringEquals": {"AWS:SourceAccount": v[2]},
                                    "ArnLike": {"AWS:SourceArn": v[1]},
                                },
                            }
                        ],
                    },
                    sort_keys=True,
                )
            ),
            opts=child,
        )
        aws.sesv2.ConfigurationSetEventDestination(
            f"{name}-feedback-destination",
            configuration_set_name=config_set.configuration_set_name,
            event_destination_name="bounces-and-complaints",
            event_destination=aws.sesv2.ConfigurationSetEventDestinationEventDestinationArgs(
                enabled=True,
                matching_event_types=list(FEEDBACK_EVENTS),
                sns_destination=aws.sesv2.ConfigurationSetEventDestinationEventDestinationSnsDestinationArgs(
                    topic_arn=topic.arn
                ),
            ),
            opts=child,
        )
        if args.feedback_url:
            aws.sns.TopicSubscription(
                f"{name}-feedback-to-app",
                topic=topic.arn,
                protocol="https",
                endpoint=args.feedback_url,
                # The app confirms the subscription when it first receives it.
                endpoint_auto_confirms=True,
                raw_message_delivery=False,
                opts=child,
            )
        self.configuration_set = config_set.configuration_set_name
        self.feedback_topic_arn = topic.arn
        self.dkim_tokens = identity.dkim_signing_attributes.apply(
            lambda a: list(a.tokens or []) if a is not None and args.dkim is None else []
        )
        self.register_outputs(
            {"configurationSet": self.configuration_set, "feedbackTopicArn": topic.arn}
        )
