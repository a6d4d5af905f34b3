"""The shared Gateway and its policies, and the names the site edge attaches to.

One Gateway (`edge/shared`) serves every store:

* listener `http` (port 80): only the HTTP->HTTPS redirect route and cert-manager's HTTP-01 solver
  routes attach to it (both live in the `edge` namespace);
* one HTTPS listener per store domain (`https-<site>-<n>`, port 443, TLS terminated with the store's
  certificate `site-<site>-tls` in the `edge` namespace); only routes from the store's own namespace
  may attach to it;
* with `platform.registry.hostname`, listener `https-registry` for Harbor (certificate `registry-tls` in
  the `edge` namespace); only routes from Harbor's namespace may attach (the chart's HTTPRoute,
  components/platform/registry.py).

The Envoy proxies behind it are shaped by an `EnvoyProxy` (a LoadBalancer Service with
`externalTrafficPolicy: Local` so that the client address survives, the MetalLB address from
`edge.gatewayAddress`, replicas and a PDB by failure domain) and a `ClientTrafficPolicy` (which
proxies' X-Forwarded-For is trusted: `edge.trustedProxyCidrs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components import k8s as kube
from components.config.model import Site, StackConfig

EDGE_NAMESPACE = "edge"
GATEWAY_NAME = "shared"
GATEWAY_CLASS = "envoy-gateway"
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
HTTP_LISTENER = "http"
REGISTRY_LISTENER = "https-registry"
REGISTRY_NAMESPACE = "harbor"  # Harbor's namespace (components/platform/registry.py)
REGISTRY_CERTIFICATE_SECRET = "registry-tls"
# Labels Envoy Gateway puts on the proxy pods of a Gateway (used by the site edge's NetworkPolicy).
ENVOY_POD_LABELS = {
    "app.kubernetes.io/name": "envoy",
    "gateway.envoyproxy.io/owning-gateway-name": GATEWAY_NAME,
    "gateway.envoyproxy.io/owning-gateway-namespace": EDGE_NAMESPACE,
}


def site_namespace(site: Site) -> str:
    return f"site-{site.name}"


def site_listeners(site: Site) -> list[str]:
    """The HTTPS listener names of a store: one per domain, in the order of `site.domains`."""
    return [f"https-{site.name}-{index}" for index, _ in enumerate(site.domains)]


def site_certificate_secret(site: Site) -> str:
    """The TLS Secret (in the edge namespace) the store's listeners serve; the site edge issues it."""
    return f"site-{site.name}-tls"


def https_listener(name: str, hostname: str, certificate_secret: str, namespace: str) -> dict[str, Any]:
    """An HTTPS listener for one host name, TLS ended with `certificate_secret`, HTTPRoutes of `namespace` only."""
    return {
        "name": name,
        "protocol": "HTTPS",
        "port": 443,
        "hostname": hostname,
        "tls": {
            "mode": "Terminate",
            "certificateRefs": [{"kind": "Secret", "group": "", "name": certificate_secret}],
        },
        "allowedRoutes": {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            },
            "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
        },
    }


def gateway_listeners(sites: Sequence[Site], registry_hostname: str | None = None) -> list[dict[str, Any]]:
    listeners: list[dict[str, Any]] = [
        {
            "name": HTTP_LISTENER,
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        }
    ]
    for site in sites:
        for listener, domain in zip(site_listeners(site), site.domains, strict=True):
            listeners.append(https_listener(listener, domain, site_certificate_secret(site), site_namespace(site)))
    if registry_hostname:
        listeners.append(https_listener(REGISTRY_LISTENER, registry_hostname, REGISTRY_CERTIFICATE_SECRET, REGISTRY_NAMESPACE))
    return listeners


def envoy_proxy_spec(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    replicas = 2 if failure_domains >= 2 else 1
    # MetalLB announces the address itself: no NodePorts, which Cilium's eBPF would otherwise answer on every
    # node address before the host firewall sees the packet (issue 9, item 6).
    service: dict[str, Any] = {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "allocateLoadBalancerNodePorts": False}
    if config.edge.gateway_address:
        service["annotations"] = {"metallb.io/loadBalancerIPs": config.edge.gateway_address}
    spread = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": dict(ENVOY_POD_LABELS)},
                    },
                }
            ]
        }
    }
    kubernetes: dict[str, Any] = {
        "envoyService": service,
        "envoyDeployment": {
            "replicas": replicas,
            "pod": {"affinity": spread},
            "container": {"resources": config.edge.resources.envoy_proxy.as_k8s()},
        },
    }
    if replicas > 1:
        kubernetes["envoyPDB"] = {"minAvailable": 1}
    return {
        "provider": {"type": "Kubernetes", "kubernetes": kubernetes},
        "telemetry": {"metrics": {"prometheus": {"disable": False}}},
    }


def client_traffic_spec(config: StackConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}],
        # Headers with underscores can alias dashed ones behind nginx/PHP (CGI names): drop them.
        "headers": {"withUnderscoresAction": "DropHeader"},
    }
    if config.edge.trusted_proxy_cidrs:
        # Only these proxies' X-Forwarded-For is believed; anyone else's is overwritten with the peer address.
        spec["clientIPDetection"] = {"xForwardedFor": {"trustedCIDRs": list(config.edge.trusted_proxy_cidrs)}}
    return spec


def _certificate(resource_name: str, name: str, secret: str, dns_names: Sequence[str], labels: dict[str, str],
                 cluster_issuer: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    return kube.custom_object(
        resource_name,
        "cert-manager.io/v1",
        "Certificate",
        metadata={"name": name, "namespace": EDGE_NAMESPACE, "labels": labels},
        fields={
            "spec": {
                "secretName": secret,
                "dnsNames": list(dns_names),
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": cluster_issuer},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            }
        },
        opts=opts,
    )


def listener_certificates(config: StackConfig, cluster_issuer: str, opts: pulumi.ResourceOptions) -> list[pulumi.CustomResource]:
    """One certificate per store, for every domain it answers on, in the Secret its listeners serve; and
    Harbor's, for `platform.registry.hostname`, in the Secret its listener serves."""
    made = [
        _certificate(f"site-{site.name}-certificate", f"site-{site.name}", site_certificate_secret(site), site.domains,
                     kube.labels("edge", **{"magento.io/site": site.name}), cluster_issuer, opts)
        for site in config.sites
    ]
    if config.platform.registry.hostname:
        made.append(_certificate("registry-certificate", "registry", REGISTRY_CERTIFICATE_SECRET, [config.platform.registry.hostname],
                                 kube.labels("edge"), cluster_issuer, opts))
    return made


def shared_gateway(
    config: StackConfig, failure_domains: int, opts: pulumi.ResourceOptions
) -> dict[str, pulumi.CustomResource]:
    """GatewayClass, EnvoyProxy, Gateway, the redirect route and the client traffic policy."""
    labels = kube.labels("edge")
    made: dict[str, pulumi.CustomResource] = {}
    made["gatewayclass"] = kube.custom_object(
        "gatewayclass",
        "gateway.networking.k8s.io/v1",
        "GatewayClass",
        metadata={"name": GATEWAY_CLASS, "labels": labels},
        fields={"spec": {"controllerName": CONTROLLER_NAME}},
        opts=opts,
    )
    made["envoyproxy"] = kube.custom_object(
        "envoyproxy",
        "gateway.envoyproxy.io/v1alpha1",
        "EnvoyProxy",
        metadata={"name": GATEWAY_NAME, "namespace": EDGE_NAMESPACE, "labels": labels},
        fields={"spec": envoy_proxy_spec(config, failure_domains)},
        opts=opts,
    )
    made["gateway"] = kube.custom_object(
        "gateway",
        "gateway.networking.k8s.io/v1",
        "Gateway",
        metadata={"name": GATEWAY_NAME, "namespace": EDGE_NAMESPACE, "labels": labels},
        fields={
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                "infrastructure": {
                    "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": GATEWAY_NAME}
                },
                "listeners": gateway_listeners(config.sites, config.platform.registry.hostname),
            }
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[made["gatewayclass"], made["envoyproxy"]])
        ),
    )
    after_gateway = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[made["gateway"]]))
    made["redirect"] = kube.custom_object(
        "http-to-https",
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        metadata={"name": "http-to-https", "namespace": EDGE_NAMESPACE, "labels": labels},
        fields={
            "spec": {
                "parentRefs": [{"name": GATEWAY_NAME, "sectionName": HTTP_LISTENER}],
                "rules": [
                    {
                        "name": "redirect",
                        "filters": [
                            {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
                        ],
                    }
                ],
            }
        },
        opts=after_gateway,
    )
    made["clienttraffic"] = kube.custom_object(
        "client-traffic",
        "gateway.envoyproxy.io/v1alpha1",
        "ClientTrafficPolicy",
        metadata={"name": "client-ip", "namespace": EDGE_NAMESPACE, "labels": labels},
        fields={"spec": client_traffic_spec(config)},
        opts=after_gateway,
    )
    return made
