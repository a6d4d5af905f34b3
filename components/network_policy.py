"""The cluster's baseline network policy, and the per-namespace isolation every namespace can take.

Why two kinds of object (docs/networking.md has the long form):

* What holds for *every* endpoint, present and future, is one `CiliumClusterwideNetworkPolicy`: DNS to
  kube-dns is always allowed. It sets `enableDefaultDeny: false` in both directions, so on its own it
  never switches a pod to default-deny; it only guarantees DNS wherever another policy denies.
* "Namespaces do not talk to each other unless a policy allows it" needs a rule that says *the same
  namespace as the pod*, and a cluster-wide policy cannot say that (cilium/cilium#24731; a
  `namespace` entity was proposed in cilium/cilium#43003 and not merged). So isolation is one
  `CiliumNetworkPolicy` per namespace, built by `namespace_isolation()`: ingress from the same
  namespace, from the node and the API server (probes, webhooks), and from the namespaces named in
  `allow_from`; everything else inbound is dropped. Egress is left open here (the sites add their own
  egress default-deny in `sites/tenancy.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

KUBE_DNS = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
DNS_PORTS = [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}]
# The namespace kube-prometheus-stack runs in (platform layer): allowed to scrape every isolated namespace.
MONITORING_NAMESPACE = "monitoring"


def allow_dns_clusterwide(resource_name: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Every endpoint may resolve names through kube-dns; kube-dns accepts queries from the cluster."""
    return kube.custom_object(
        resource_name,
        "cilium.io/v2",
        "CiliumClusterwideNetworkPolicy",
        metadata={"name": "baseline-allow-dns", "labels": kube.labels("network-policy")},
        fields={"specs": [
            {
                "description": "Baseline: every pod may query kube-dns (never enables default-deny by itself)",
                "endpointSelector": {},
                "enableDefaultDeny": {"ingress": False, "egress": False},
                "egress": [{"toEndpoints": [{"matchLabels": KUBE_DNS}], "toPorts": [{"ports": DNS_PORTS}]}],
            },
            {
                "description": "Baseline: kube-dns answers every endpoint of the cluster",
                "endpointSelector": {"matchLabels": KUBE_DNS},
                "enableDefaultDeny": {"ingress": False, "egress": False},
                "ingress": [{"fromEntities": ["cluster"], "toPorts": [{"ports": DNS_PORTS}]}],
            },
        ]},
        opts=opts,
    )


def _all_but(exclude: Mapping[str, str] | None) -> dict[str, Any]:
    """Every endpoint of the namespace, or every one without all of `exclude`'s labels."""
    if not exclude:
        return {}
    (key, value), *rest = exclude.items()
    assert not rest, "one label tells the excluded pods apart"
    return {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}


def namespace_isolation(
    resource_name: str,
    namespace: pulumi.Input[str],
    *,
    allow_from: Sequence[str] = (),
    extra_ingress: Sequence[Mapping[str, Any]] = (),
    exclude: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """Isolate one namespace: inbound only from itself, the nodes, the API server and `allow_from`.

    `exclude`: labels of pods this policy leaves out (they carry a stricter policy of their own, which Cilium
    would otherwise widen: allow rules add up)."""
    peers: list[dict[str, Any]] = [{}]  # {} in a namespaced policy = every endpoint of this namespace
    peers += [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": ns}} for ns in (*allow_from, MONITORING_NAMESPACE)]
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="cilium.io/v2",
        kind="CiliumNetworkPolicy",
        metadata={"name": "baseline-namespace-isolation", "namespace": namespace, "labels": kube.labels("network-policy")},
        spec={
            "description": "Baseline: inbound only from this namespace, the nodes, the API server and named namespaces",
            "endpointSelector": _all_but(exclude),
            "ingress": [
                {"fromEndpoints": peers},
                {"fromEntities": ["host", "remote-node", "kube-apiserver", "health"]},
                *[dict(rule) for rule in extra_ingress],
            ],
        },
        opts=opts,
    )
