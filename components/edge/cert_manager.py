"""cert-manager: certificates from ACME, HTTP-01 through the shared Gateway or DNS-01 (values, issuer solver)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.edge.gateway import EDGE_NAMESPACE, GATEWAY_NAME, HTTP_LISTENER
from components.layer import service_monitors
from components.placement import replicas

CERT_MANAGER_NAMESPACE = "cert-manager"
CLUSTER_ISSUER = "letsencrypt"
ACME_ACCOUNT_SECRET = "letsencrypt-account-key"
DNS_TOKEN_SECRET = "acme-dns-api-token"


def cert_manager_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    count = replicas(failure_domains)
    return {
        "crds": {"enabled": True, "keep": True},
        "replicaCount": count,
        "webhook": {"replicaCount": count},
        "cainjector": {"replicaCount": count},
        "podDisruptionBudget": {"enabled": count > 1, "minAvailable": 1},
        # HTTP-01 through the shared Gateway needs cert-manager's Gateway API support.
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "enableGatewayAPI": True,
        },
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": service_monitors(config)}},
    }


def acme_solver(config: StackConfig) -> dict[str, Any]:
    acme = config.edge.acme
    if acme.solver == "dns01":
        # The model admits only cloudflare for DNS-01 (the others need webhooks or more credentials).
        return {"dns01": {"cloudflare": {"apiTokenSecretRef": {"name": DNS_TOKEN_SECRET, "key": "api-token"}}}}
    return {
        "http01": {
            "gatewayHTTPRoute": {
                "parentRefs": [
                    {"name": GATEWAY_NAME, "namespace": EDGE_NAMESPACE, "kind": "Gateway", "sectionName": HTTP_LISTENER}
                ]
            }
        }
    }
