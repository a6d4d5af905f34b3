"""Each store's tenancy: a restricted namespace, its quota from config, default limits, default-deny
with DNS only."""

from __future__ import annotations

import pytest

from offline.engine import Recording
from tests.layer_helpers import stack_values


@pytest.mark.parametrize("site", ["shop-fr", "shop-de"])
def test_quota_comes_from_the_site_config(prod: Recording, site: str):
    (wanted,) = [s["quota"] for s in stack_values("prod")["sites"] if s["name"] == site]
    quota = prod.named(f"{site}-quota").inputs
    assert quota["metadata"]["namespace"] == f"site-{site}"
    hard = quota["spec"]["hard"]
    assert hard["requests.cpu"] == wanted["cpu"] and hard["limits.cpu"] == wanted["cpuLimits"]
    assert hard["requests.memory"] == wanted["memory"] and hard["limits.memory"] == wanted["memoryLimits"]
    assert hard["pods"] == str(wanted["pods"])
    assert hard["services.loadbalancers"] == "0" and hard["services.nodeports"] == "0"


def test_namespace_enforces_restricted_pod_security(stack_recording: Recording):
    namespaces = [r for r in stack_recording.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"].startswith("site-")]
    assert namespaces
    for ns in namespaces:
        labels = ns.inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_default_deny_blocks_everything_but_dns(dev: Recording):
    deny = dev.named("demo-default-deny").inputs["spec"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    dns = dev.named("demo-allow-dns").inputs["spec"]
    assert dns["policyTypes"] == ["Egress"]
    (rule,) = dns["egress"]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_tenancy_objects_wait_for_their_namespace(prod: Recording):
    namespace = prod.named("shop-fr-namespace")
    for name in ("shop-fr-quota", "shop-fr-limits", "shop-fr-default-deny", "shop-fr-allow-dns"):
        assert namespace.urn in prod.named(name).dependencies


def test_limit_range_gives_every_container_requests_and_limits(dev: Recording):
    (item,) = dev.named("demo-limits").inputs["spec"]["limits"]
    assert item["type"] == "Container" and item["default"] and item["defaultRequest"]
