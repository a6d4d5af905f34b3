"""Envoy Gateway: the Gateway API and Envoy Gateway CRDs chart and the controller chart (values)."""

from __future__ import annotations

from typing import Any

from components.placement import replicas


def gateway_crds_values() -> dict[str, Any]:
    return {"crds": {"gatewayAPI": {"enabled": True, "channel": "standard"}, "envoyGateway": {"enabled": True}}}


def envoy_gateway_values(failure_domains: int) -> dict[str, Any]:
    count = replicas(failure_domains)
    return {
        # The CRDs come from the gateway-crds chart: skipped here both as chart CRDs and as templates.
        "crds": {"enabled": False},
        "deployment": {"replicas": count},
        "podDisruptionBudget": {"minAvailable": 1 if count > 1 else 0},
        "config": {
            "envoyGateway": {
                "gateway": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
                "provider": {"type": "Kubernetes"},
                "logging": {"level": {"default": "info"}},
            }
        },
    }
