"""Policy pack: `pulumi preview --policy-pack policy/` checks mailstack's invariants.

The same rules run in the test suite over every stack under mocks
(tests/policy), so what the CLI enforces is what CI tested.
"""

from mailstack_policy.rules import policy_pack_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="mailstack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policy_pack_policies(),
)
