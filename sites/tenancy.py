"""A store's tenancy: its namespace, quota, default limits and baseline network isolation.

Every store runs in its own namespace `site-<name>` at the `restricted` Pod Security level, with a
ResourceQuota from the site's configuration, a LimitRange so that no container runs without requests
and limits, a default-deny NetworkPolicy (ingress and egress) and an egress allowance for cluster DNS
only. The store's workloads (nginx, PHP-FPM, Varnish, cron, consumers) add their own allowances.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import Site as SiteSettings


def namespace_name(site: SiteSettings) -> str:
    return f"site-{site.name}"


@dataclass(frozen=True)
class SiteTenancyArgs:
    site: SiteSettings


class SiteTenancy(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace

    def __init__(self, name: str, args: SiteTenancyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:SiteTenancy", name, None, opts)
        site = args.site
        ns = namespace_name(site)
        labels = kube.labels("site", **{"magento.io/site": site.name})
        self.namespace = kube.namespace(
            f"{name}-namespace",
            ns,
            level="restricted",
            component="site",
            extra_labels={"magento.io/site": site.name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        quota = site.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("site-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                # The compute the config check verified the store fits at its autoscalers' maxima (requests
                # and limits apart: a tier's limits exceed its requests, so limits equal to requests would
                # refuse pods the HPA adds).
                hard={
                    **site.quota_hard(),
                    "requests.storage": quota.storage,
                    "pods": str(quota.pods),
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            ),
            opts=in_ns,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": "500m", "memory": "512Mi"},
                        default_request={"cpu": "100m", "memory": "128Mi"},
                    )
                ]
            ),
            opts=in_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
            opts=in_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns-egress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=in_ns,
        )
        self.register_outputs({"namespace": ns})
