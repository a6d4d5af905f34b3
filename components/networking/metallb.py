"""MetalLB: LoadBalancer addresses announced over L2 (chart values; the pools are built by the layer)."""

from __future__ import annotations

from typing import Any

import pulumi

from components import chart_patches
from components.config.model import StackConfig
from components.layer import service_monitors
from components.network_policy import MONITORING_NAMESPACE

METALLB_NAMESPACE = "metallb-system"
# Prometheus' service account as kube-prometheus-stack names it (platform layer, release "kube-prometheus-stack").
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"


def metallb_values(config: StackConfig) -> dict[str, Any]:
    monitors = service_monitors(config)
    res = config.networking.resources
    return {
        # L2 mode only: no FRR / FRR-K8s BGP speaker.
        "speaker": {"frr": {"enabled": False}, "resources": res.metallb_speaker.as_k8s()},
        "controller": {"resources": res.metallb_controller.as_k8s()},
        "frrk8s": {"enabled": False},
        "prometheus": {
            # Metrics are HTTPS with authorisation since 0.16: the chart grants Prometheus' account access.
            "rbacPrometheus": True,
            "serviceAccount": PROMETHEUS_SERVICE_ACCOUNT,
            "namespace": MONITORING_NAMESPACE,
            "serviceMonitor": {"enabled": monitors},
            "podMonitor": {"enabled": False},
        },
    }


def metallb_transforms() -> list[pulumi.ResourceTransform]:
    """MetalLB's controller injects its webhook's CA bundle itself; the chart has no value for annotations on the
    webhook configuration, so the wait is added as a transform (the address pools are created after it)."""
    return [chart_patches.annotate("ValidatingWebhookConfiguration", "metallb-webhook-configuration",
                                   chart_patches.WAIT_FOR_CA_BUNDLE)]
