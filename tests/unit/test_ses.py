"""SES as code: identity, DKIM, MAIL FROM, feedback to the app; AWS loaded only for it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from mailstack.config import ConfigError, validate
from tests.conftest import stack_config
from tools.harness import ROOT, SECRET_SIG, Run, mask_secrets, run_program


def _run(stack: str = "prod", **settings: Any) -> Run:
    config, secret_keys = stack_config(stack, set={"sesAsCode": True, **settings})
    return run_program(stack, config, secret_keys)


def test_the_identity_signs_with_mailstacks_own_dkim_key() -> None:
    run = _run()
    (identity,) = run.of_type("aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["emailIdentity"] == "example.com"
    signing = identity.inputs["dkimSigningAttributes"]
    assert signing["domainSigningSelector"] == "ms202611"
    # The private key only ever travels as a secret.
    assert SECRET_SIG in json.dumps(signing["domainSigningPrivateKey"])
    assert "PRIVATE KEY" not in json.dumps(mask_secrets(identity.inputs))
    (mail_from,) = run.of_type(
        "aws:sesv2/emailIdentityMailFromAttributes:EmailIdentityMailFromAttributes"
    )
    assert mail_from.inputs["mailFromDomain"] == "bounce.example.com"
    assert "sesDkimTokens" not in run.outputs
    # Its region comes from the config, through an explicit provider.
    (provider,) = run.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-central-1"
    assert identity.provider.startswith(provider.urn)


def test_bounces_and_complaints_reach_listmonks_ses_webhook() -> None:
    run = _run()
    (destination,) = run.of_type(
        "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination"
    )
    event = destination.inputs["eventDestination"]
    assert event["matchingEventTypes"] == ["BOUNCE", "COMPLAINT"]
    assert len(run.of_type("aws:sns/topic:Topic")) == 1
    (subscription,) = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "https"
    assert subscription.inputs["endpoint"] == "https://app.example.com/webhooks/service/ses"
    (policy,) = run.of_type("aws:sns/topicPolicy:TopicPolicy")
    statement = json.loads(policy.inputs["policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"].startswith("arn:aws:ses:")
    # listmonk switches its SES webhook on in the settings job.
    compose = yaml.safe_load(run.artifacts["compose/compose.yaml"].text)
    assert compose["services"]["app-settings"]["environment"]["SES_FEEDBACK"] == "true"
    assert "sesFeedbackTopicArn" in run.outputs


def test_other_presets_get_the_topic_but_no_subscription() -> None:
    run = _run(app="custom", appImage="ghcr.io/example/app:1.0.0")
    assert run.of_type("aws:sns/topic:Topic")
    assert not run.of_type("aws:sns/topicSubscription:TopicSubscription")


def test_easy_dkim_hands_out_its_tokens() -> None:
    run = _run(dkimSigner="ses")
    (identity,) = run.of_type("aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["dkimSigningAttributes"] == {"nextSigningKeyLength": "RSA_2048_BIT"}
    assert len(run.outputs["sesDkimTokens"]) == 3


@pytest.mark.parametrize(
    ("stack", "settings"),
    [("prod", {"mailRelay": "smtp", "smtpHost": "smtp.example.net"}), ("local", {})],
)
def test_ses_as_code_needs_ses_on_a_server(stack: str, settings: dict[str, Any]) -> None:
    config, secret_keys = stack_config(stack, set={"sesAsCode": True, **settings})
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    assert "sesAsCode" in {p.key for p in caught.value.problems}


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_stacks_without_ses_never_import_the_aws_sdk(stack: str) -> None:
    script = (
        "import sys\n"
        "from tests.conftest import stack_config\n"
        "from tools.harness import run_program\n"
        f"run_program({stack!r}, *stack_config({stack!r}))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('pulumi_aws', 'boto')))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
