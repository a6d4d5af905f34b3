"""KEDA: event-driven autoscaling for the sites' queue consumers (ScaledObjects on RabbitMQ queue depth,
created by the sites layer). Operator and admission webhooks replicated over failure domains; one metrics
API server (it serves the external metrics API through one APIService)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.placement import replicas, spread_constraints

KEDA_NAMESPACE = "keda"


def keda_values(config: StackConfig, domains: int) -> dict[str, Any]:
    resources = config.platform.autoscaling.resources.as_k8s()
    count = replicas(domains)

    def spread(name: str) -> list[dict[str, Any]]:
        return spread_constraints({"app": name}, domains)

    budget = {"maxUnavailable": 1} if count > 1 else {}
    return {
        "operator": {"replicaCount": count},
        "metricsServer": {"replicaCount": 1},
        "webhooks": {"replicaCount": count},
        "podDisruptionBudget": {"operator": budget, "webhooks": budget},
        "topologySpreadConstraints": {"operator": spread("keda-operator"), "webhooks": spread("keda-admission-webhooks")},
        "resources": {"operator": resources, "metricServer": resources, "webhooks": resources},
        "prometheus": {"operator": {"enabled": True}, "metricServer": {"enabled": True}},
    }
