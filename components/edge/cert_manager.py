"""cert-manager: certificates from ACME, HTTP-01 through the shared Gateway or DNS-01 (values, issuer solver)."""

from __future__ import annotations

from typing import Any

from components.chart_patches import WAIT_FOR_CA_BUNDLE
from components.config.model import StackConfig
from components.edge.gateway import EDGE_NAMESPACE, GATEWAY_NAME, HTTP_LISTENER
from components.layer import service_monitors
from components.placement import replicas, spread_constraints

CERT_MANAGER_NAMESPACE = "cert-manager"
CLUSTER_ISSUER = "letsencrypt"
ACME_ACCOUNT_SECRET = "letsencrypt-account-key"
DNS_TOKEN_SECRET = "acme-dns-api-token"


def _selector(component: str) -> dict[str, str]:
    """The pod labels the chart gives each of its Deployments (templates/*-deployment.yaml)."""
    name = {"controller": "cert-manager"}.get(component, component)
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "cert-manager",
            "app.kubernetes.io/component": component}


def cert_manager_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    """cert-manager with its CRDs, each Deployment sized, spread and budgeted, and a webhook the provider waits for.

    `crds.keep` annotates the CRDs `helm.sh/resource-policy: keep`, which the provider turns into
    `retainOnDelete` (helm/v4/chart.go preregister): removing the chart leaves the CRDs and every Certificate.
    The webhook configurations carry `pulumi.com/waitFor` on the CA bundle the CA injector writes, so the
    ClusterIssuer and Certificates created after the chart never meet a webhook the API server cannot call
    (what the chart's post-install startupapicheck hook would have waited for).
    """
    count = replicas(failure_domains)
    res = config.edge.resources
    budget = {"enabled": count > 1, "maxUnavailable": 1}

    def deployment(component: str, resources: Any) -> dict[str, Any]:
        return {
            "replicaCount": count,
            "podDisruptionBudget": budget,
            "topologySpreadConstraints": spread_constraints(_selector(component), failure_domains),
            "resources": resources.as_k8s(),
        }

    return {
        "crds": {"enabled": True, "keep": True},
        **deployment("controller", res.cert_manager),
        "webhook": {
            **deployment("webhook", res.cert_manager_webhook),
            "validatingWebhookConfigurationAnnotations": WAIT_FOR_CA_BUNDLE,
            "mutatingWebhookConfigurationAnnotations": WAIT_FOR_CA_BUNDLE,
        },
        "cainjector": deployment("cainjector", res.cert_manager_cainjector),
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
