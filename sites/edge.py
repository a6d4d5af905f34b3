"""A store at the shared edge: its routes, rate limits, admin allow-list and WAF tier.

    Gateway listener https-<site>-<n> --HTTPRoute <site>-storefront / <site>-admin--> Service waf
        --> WAF pods (OWASP CRS) --> the store's backend Service (Varnish)

The site layer creates one `SiteEdge` per store once the store's backend Service exists; the edge
layer has already put the store's HTTPS listeners on the shared Gateway and issued the certificate they
serve (both from the same config, in the `edge` namespace, which a site stack never writes to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import k8s as kube
from components.config.model import RateLimit, Site
from components.edge.gateway import (
    EDGE_NAMESPACE,
    GATEWAY_NAME,
    site_listeners,
    site_namespace,
)
from sites.common import Delivery
from sites.waf import BackendService, WafArgs, WafTier
from sites.waf_config import WAF_PORT

__all__ = ["BackendService", "SiteEdge", "SiteEdgeArgs"]


@dataclass(frozen=True)
class SiteEdgeArgs:
    site: Site
    backend: BackendService
    pod_cidr: str  # Envoy's X-Forwarded-For is trusted from pod addresses only
    failure_domains: int = 1
    cdn_cidrs: tuple[str, ...] = ()  # edge.trustedProxyCidrs: the WAF believes a CDN's X-Forwarded-For too
    delivery: Delivery = field(default_factory=Delivery)  # gitops: the WAF's network policies stay with the cluster provider


def rate_limit_rule(limit: RateLimit, admin_path: str) -> dict[str, Any]:
    """One local rate-limit rule of a BackendTrafficPolicy: the endpoint's path and its limit."""
    return {
        "clientSelectors": [{"path": {"type": limit.match, "value": limit.path.replace("{adminPath}", admin_path)}}],
        "limit": {"requests": limit.requests, "unit": limit.unit},
    }


class SiteEdge(pulumi.ComponentResource):
    def __init__(self, name: str, args: SiteEdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:SiteEdge", name, None, opts)
        site = args.site
        ns = site_namespace(site)
        labels = kube.labels("edge", **{"magento.io/site": site.name})
        child = pulumi.ResourceOptions(parent=self)

        self.waf = WafTier(
            f"{name}-waf",
            WafArgs(site, ns, args.backend, args.pod_cidr, args.failure_domains, tuple(args.cdn_cidrs), args.delivery),
            child,
        )
        parents = [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": EDGE_NAMESPACE,
             "name": GATEWAY_NAME, "sectionName": listener}
            for listener in site_listeners(site)
        ]
        to_waf = [{"group": "", "kind": "Service", "name": self.waf.service_name, "port": WAF_PORT}]
        after_waf = pulumi.ResourceOptions(parent=self, depends_on=[self.waf])
        admin_prefix = f"/{site.edge.admin_path}"
        self.routes = {
            rule: kube.custom_object(
                f"{name}-route-{rule}",
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
                metadata={"name": f"{site.name}-{rule}", "namespace": ns, "labels": labels},
                fields={
                    "spec": {
                        "parentRefs": parents,
                        "hostnames": list(site.domains),
                        "rules": [
                            {
                                "name": rule,
                                "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                                "backendRefs": to_waf,
                                "timeouts": {"request": "300s"},
                            }
                        ],
                    }
                },
                opts=after_waf,
            )
            for rule, prefix in (("storefront", "/"), ("admin", admin_prefix))
        }
        route_refs = [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": f"{site.name}-{rule}"} for rule in self.routes
        ]
        after_routes = pulumi.ResourceOptions(parent=self, depends_on=list(self.routes.values()))
        policies: list[tuple[str, str, dict[str, Any]]] = [
            (
                "BackendTrafficPolicy",
                "rate-limits",
                {
                    "targetRefs": route_refs,
                    "rateLimit": {
                        "type": "Local",
                        "local": {"rules": [rate_limit_rule(limit, site.edge.admin_path) for limit in site.edge.rate_limits]},
                    },
                },
            )
        ]
        if site.edge.admin_allow_cidrs:
            allow = {"name": "admin-networks", "action": "Allow", "principal": {"clientCIDRs": list(site.edge.admin_allow_cidrs)}}
            policies.append(
                (
                    "SecurityPolicy",
                    "admin-allow-list",
                    {"targetRefs": [route_refs[1]], "authorization": {"defaultAction": "Deny", "rules": [allow]}},
                )
            )
        for kind, suffix, spec in policies:
            kube.custom_object(
                f"{name}-{suffix}",
                "gateway.envoyproxy.io/v1alpha1",
                kind,
                metadata={"name": f"{site.name}-{suffix}", "namespace": ns, "labels": labels},
                fields={"spec": spec},
                opts=after_routes,
            )
        self.register_outputs(
            {"routes": [f"{site.name}-{rule}" for rule in self.routes], "wafService": self.waf.service_name}
        )
