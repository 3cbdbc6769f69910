"""Policy pack: `pulumi preview --policy-pack policy/` checks mailstack's invariants.

The same rules run in the test suite over every stack under mocks
(tests/policy), so what the CLI enforces is what CI tested.
"""

import sys
from pathlib import Path

# The rules share their network checks with the program (components/), one
# directory up; the CLI starts the pack with only this directory on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailstack_policy.rules import policy_pack_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="mailstack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policy_pack_policies(),
)
