"""MetalLB: LoadBalancer addresses announced over L2 (chart values; the pools are built by the layer)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.layer import service_monitors
from components.network_policy import MONITORING_NAMESPACE

METALLB_NAMESPACE = "metallb-system"
# Prometheus' service account as kube-prometheus-stack names it (platform layer, release "kube-prometheus-stack").
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"


def metallb_values(config: StackConfig) -> dict[str, Any]:
    monitors = service_monitors(config)
    return {
        # L2 mode only: no FRR / FRR-K8s BGP speaker.
        "speaker": {"frr": {"enabled": False}},
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
