"""Entry point the Pulumi CLI runs for `--policy-pack policy`: it only builds the PolicyPack.

The policies live in `magento_policies` (importable by tests and the offline check as
`policy.magento_policies`); never import this file, PolicyPack serves gRPC forever.
"""

from magento_policies import PACK_LEVEL, PACK_NAME, POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name=PACK_NAME, enforcement_level=PACK_LEVEL, policies=POLICIES)
