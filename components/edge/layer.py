"""The edge layer: Gateway API, Envoy Gateway, cert-manager and the shared Gateway.

Order: the Gateway API + Envoy Gateway CRDs chart first; then the Envoy Gateway controller (CRDs
skipped, they are already there) and cert-manager (its Gateway API support needs the CRDs at start);
then the custom resources, each after the chart that serves it: the ACME ClusterIssuer after
cert-manager, the GatewayClass / EnvoyProxy / Gateway / routes / policies after Envoy Gateway.
The per-store parts (certificate, routes, rate limits, WAF) are `sites.edge.SiteEdge`.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.edge.cert_manager import (
    ACME_ACCOUNT_SECRET,
    CERT_MANAGER_NAMESPACE,
    CLUSTER_ISSUER,
    DNS_TOKEN_SECRET,
    acme_solver,
    cert_manager_values,
)
from components.edge.envoy_gateway import control_plane_certificates, envoy_gateway_values, gateway_crds_values
from components.edge.gateway import EDGE_NAMESPACE, ENVOY_GATEWAY_NAMESPACE, GATEWAY_NAME, listener_certificates, shared_gateway
from components.layer import Layer, LayerArgs, service_monitors
from components.network_policy import namespace_isolation


class Edge(Layer):
    TYPE = "magento:edge:Edge"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config, domains = args.config, args.failure_domains
        opts = self.child_opts
        self.crds = kube.chart(
            "gateway-crds", "gateway-crds", namespace=ENVOY_GATEWAY_NAMESPACE, values=gateway_crds_values(), opts=opts
        )
        eg_ns = kube.namespace(
            "envoy-gateway-system", ENVOY_GATEWAY_NAMESPACE, level="baseline", component="edge", opts=opts
        )
        cm_ns = kube.namespace(
            "cert-manager", CERT_MANAGER_NAMESPACE, level="restricted", component="certificates", opts=opts
        )
        namespace_isolation(
            "cert-manager-isolation", CERT_MANAGER_NAMESPACE, opts=pulumi.ResourceOptions(parent=self, depends_on=[cm_ns])
        )
        dns_token: list[pulumi.Resource] = []
        if config.edge.acme.solver == "dns01" and args.secrets and args.secrets.acme_dns_api_token is not None:
            dns_token.append(
                k8s.core.v1.Secret(
                    "acme-dns-api-token",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=DNS_TOKEN_SECRET, namespace=CERT_MANAGER_NAMESPACE, labels=kube.labels("certificates")
                    ),
                    type="Opaque",
                    string_data={"api-token": pulumi.Output.secret(args.secrets.acme_dns_api_token)},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[cm_ns]),
                )
            )
        self.cert_manager = kube.chart(
            "cert-manager",
            "cert-manager",
            namespace=CERT_MANAGER_NAMESPACE,
            values=cert_manager_values(config, domains),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crds, cm_ns]),
        )
        # Envoy Gateway's control-plane TLS, issued before the controller starts (the chart's certgen hook never runs).
        certificates = control_plane_certificates(
            ENVOY_GATEWAY_NAMESPACE, pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager, eg_ns])
        )
        self.envoy_gateway = kube.chart(
            "envoy-gateway",
            "envoy-gateway",
            namespace=ENVOY_GATEWAY_NAMESPACE,
            values=envoy_gateway_values(config, domains),
            skip_crds=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crds, eg_ns, *certificates]),
        )
        issuer = kube.custom_object(
            "cluster-issuer",
            "cert-manager.io/v1",
            "ClusterIssuer",
            metadata={"name": CLUSTER_ISSUER, "labels": kube.labels("certificates")},
            fields={
                "spec": {
                    "acme": {
                        "email": config.edge.acme.email,
                        "server": config.edge.acme.server,
                        "privateKeySecretRef": {"name": ACME_ACCOUNT_SECRET},
                        "solvers": [acme_solver(config)],
                    }
                }
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager, *dns_token]),
        )

        edge_ns = kube.namespace("edge", EDGE_NAMESPACE, level="restricted", component="edge", opts=opts)
        namespace_isolation(
            "edge-isolation",
            EDGE_NAMESPACE,
            allow_from=[ENVOY_GATEWAY_NAMESPACE],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[edge_ns]),
        )
        # The stores' and Harbor's certificates, beside the listeners that serve them (a site stack never writes here).
        listener_certificates(config, CLUSTER_ISSUER, pulumi.ResourceOptions(parent=self, depends_on=[issuer, edge_ns]))
        self.gateway = shared_gateway(
            config,
            domains,
            pulumi.ResourceOptions(parent=self, depends_on=[self.crds, self.envoy_gateway, edge_ns]),
        )
        if service_monitors(config):
            self._monitors()
        return {
            "gateway": {"name": GATEWAY_NAME, "namespace": EDGE_NAMESPACE},
            "clusterIssuer": CLUSTER_ISSUER,
            "gatewayAddress": config.edge.gateway_address,
        }

    def _monitors(self) -> None:
        """Envoy Gateway's chart ships no ServiceMonitor: one for the controller, a PodMonitor for the proxies."""
        monitors = [
            ("ServiceMonitor", "envoy-gateway", {"control-plane": "envoy-gateway"}, "endpoints", "/metrics"),
            ("PodMonitor", "envoy-proxy", {"app.kubernetes.io/name": "envoy"}, "podMetricsEndpoints", "/stats/prometheus"),
        ]
        for kind, name, selector, endpoints, path in monitors:
            kube.custom_object(
                f"{name}-monitor",
                "monitoring.coreos.com/v1",
                kind,
                metadata={"name": name, "namespace": ENVOY_GATEWAY_NAMESPACE, "labels": kube.labels("edge")},
                fields={
                    "spec": {
                        "selector": {"matchLabels": selector},
                        endpoints: [{"port": "metrics", "path": path, "interval": "30s"}],
                    }
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.envoy_gateway]),
            )
