"""The Magento platform's CrossGuard policies, importable without starting a policy pack server.

`policy/__main__.py` wraps POLICIES in a PolicyPack for the Pulumi CLI; the offline check
(`offline/policy_check.py`) and the tests evaluate the same list through the SDK's analyzer.

Chart provenance (exact pins from https/oci repositories, nothing Bitnami, values keys the chart has) is
not a policy here: the engine gives analyzers no Chart inputs (the provider registers the component
without them), so it is the offline plan's `charts` check (offline/checks.py), which runs in CI. What a
chart renders is checked here, object by object, as the CLI presents it.
Imports inside this package are relative so it loads both as `magento_policies` (the CLI runs
`policy/` as its program directory) and as `policy.magento_policies` (from the repository root).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from . import buckets, hosts, kubernetes, object_storage_users, secrets, workloads

PACK_NAME = "magento-platform-baseline"
PACK_LEVEL = EnforcementLevel.MANDATORY

POLICIES: list[Policy] = [
    *workloads.POLICIES,
    *kubernetes.POLICIES,
    *secrets.POLICIES,
    *buckets.POLICIES,
    *object_storage_users.POLICIES,
    *hosts.POLICIES,
]

__all__ = ["PACK_LEVEL", "PACK_NAME", "POLICIES"]
