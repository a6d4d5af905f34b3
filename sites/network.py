"""A store's network paths, exactly: gateway -> WAF -> Varnish -> nginx -> PHP-FPM -> the store's data
services, plus DNS (sites/tenancy.py) and egress to object storage and the configured APIs.

The namespace denies everything by default (ingress and egress, sites/tenancy.py); each policy here opens
one hop. The WAF tier opens gateway -> WAF -> Varnish itself (sites/waf.py). The store's PHP pods (FPM,
cron, consumers, release Jobs; label magento.io/php) reach the data services of the store's tenancy on
their ports only, and Varnish's purge listener; the release Jobs also reach the Kubernetes API (to pause
cron and consumers). Prometheus (its namespace, `monitoring`) reaches each tier's exporter sidecar on that
exporter's port only (sites/exporters.py); nothing else reaches the metrics ports.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.network_policy import MONITORING_NAMESPACE
from sites.common import SiteContext
from sites.exporters import FPM_EXPORTER_PORT, NGINX_EXPORTER_PORT, VARNISH_EXPORTER_PORT
from sites.nginx import NGINX_NAME
from sites.php_fpm import FPM_NAME
from sites.runtime.nginx import HTTP_PORT as NGINX_PORT
from sites.runtime.php_fpm import FPM_PORT
from sites.runtime.varnish import PURGE_PORT
from sites.varnish import VARNISH_NAME

PHP_PODS = {"magento.io/php": "true"}
# Networks object storage may not be in: the cluster's own (pods, Services, servers).
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def data_endpoints(ctx: SiteContext) -> dict[str, set[int]]:
    """Namespace -> ports of every data service the store's tenancy names (host `<svc>.<ns>.svc...`)."""
    tenancy = ctx.tenancy
    found: dict[str, set[int]] = defaultdict(set)

    def add(host: str, port: int) -> None:
        parts = host.split(".")
        if len(parts) < 2:
            raise ValueError(f"data service host {host!r} of site {ctx.site.name} is not a cluster Service name")
        found[parts[1]].add(port)

    add(tenancy.database.host, tenancy.database.port)
    add(tenancy.search.host, tenancy.search.port)
    add(tenancy.queue.host, tenancy.queue.port)
    for store in tenancy.valkey.values():
        add(store.host, store.port)
        if store.sentinel is not None:
            for endpoint in store.sentinel.hosts:
                host, _, port = endpoint.rpartition(":")
                add(host, int(port))
    return dict(found)


def _pods(ctx: SiteContext, labels: dict[str, str], namespace: str | None = None) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": {"matchLabels": {**labels, "magento.io/site": ctx.site.name}}}
    if namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return peer


def _ports(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in sorted(ports)]


class SiteNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:SiteNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        site = ctx.site
        name_of = {VARNISH_NAME: {"app.kubernetes.io/name": VARNISH_NAME}, NGINX_NAME: {"app.kubernetes.io/name": NGINX_NAME},
                   FPM_NAME: {"app.kubernetes.io/name": FPM_NAME}}
        policies: list[tuple[str, dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]] = [
            # (name, pods, ingress rules, egress rules)
            ("varnish-purge-from-php", name_of[VARNISH_NAME], [{"from": [_pods(ctx, PHP_PODS)], "ports": _ports(PURGE_PORT)}], []),
            ("varnish-to-nginx", name_of[VARNISH_NAME], [], [{"to": [_pods(ctx, name_of[NGINX_NAME])], "ports": _ports(NGINX_PORT)}]),
            ("nginx-from-varnish", name_of[NGINX_NAME], [{"from": [_pods(ctx, name_of[VARNISH_NAME])], "ports": _ports(NGINX_PORT)}], []),
            ("nginx-to-php-fpm", name_of[NGINX_NAME], [], [{"to": [_pods(ctx, name_of[FPM_NAME])], "ports": _ports(FPM_PORT)}]),
            ("php-fpm-from-nginx", name_of[FPM_NAME], [{"from": [_pods(ctx, name_of[NGINX_NAME])], "ports": _ports(FPM_PORT)}], []),
        ]
        prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}
        for tier, port in ((NGINX_NAME, NGINX_EXPORTER_PORT), (FPM_NAME, FPM_EXPORTER_PORT), (VARNISH_NAME, VARNISH_EXPORTER_PORT)):
            policies.append((f"{tier}-metrics-from-monitoring", name_of[tier], [{"from": [prometheus], "ports": _ports(port)}], []))
        php_egress = [
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}], "ports": _ports(*ports)}
            for namespace, ports in sorted(data_endpoints(ctx).items())
        ]
        php_egress.append({"to": [_pods(ctx, name_of[VARNISH_NAME])], "ports": _ports(PURGE_PORT)})
        if site.media.backend == "s3":
            cidrs = site.egress.object_storage_cidrs
            blocks = [{"ipBlock": {"cidr": cidr}} for cidr in cidrs] or [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE)}}]
            php_egress.append({"to": blocks, "ports": _ports(443)})
        for api in site.egress.apis:
            php_egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in api.cidrs], "ports": _ports(*api.ports)})
        policies.append(("php-egress", PHP_PODS, [], php_egress))
        for policy_name, pods, ingress, egress in policies:
            types = (["Ingress"] if ingress else []) + (["Egress"] if egress else [])
            spec: dict[str, Any] = {"podSelector": {"matchLabels": {**pods, "magento.io/site": site.name}}, "policyTypes": types}
            if ingress:
                spec["ingress"] = ingress
            if egress:
                spec["egress"] = egress
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=ctx.meta(policy_name, "network"), spec=spec, opts=child)
        # The release Jobs pause and resume cron and consumers through the API server (Cilium knows its address).
        kube.custom_object(
            f"{name}-release-to-apiserver", "cilium.io/v2", "CiliumNetworkPolicy",
            metadata=ctx.meta("release-to-apiserver", "network"),
            fields={"spec": {
                "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": "release", "magento.io/site": site.name}},
                "egress": [{"toEntities": ["kube-apiserver"], "toPorts": [{"ports": [{"port": "6443", "protocol": "TCP"},
                                                                                   {"port": "443", "protocol": "TCP"}]}]}],
            }},
            opts=child,
        )
        self.register_outputs({})
