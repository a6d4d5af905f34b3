"""Names shared by the observability components: namespaces, services, data sources, storage."""

from __future__ import annotations

from components.config.model import StackConfig
from components.config.types import parse_quantity

NAMESPACE = "monitoring"
# node-exporter reads the host (hostNetwork, hostPID, the root filesystem): a namespace of its own at the
# `privileged` Pod Security level, so that `monitoring` stays at `baseline`.
NODE_EXPORTER_NAMESPACE = "monitoring-node"

KPS_NAME = "kps"  # fullnameOverride of kube-prometheus-stack: objects are kps-prometheus, kps-alertmanager, ...
PROMETHEUS_URL = f"http://{KPS_NAME}-prometheus.{NAMESPACE}.svc:9090"
ALERTMANAGER_URL = f"http://{KPS_NAME}-alertmanager.{NAMESPACE}.svc:9093"
LOKI_URL = f"http://loki.{NAMESPACE}.svc:3100"
TEMPO_URL = f"http://tempo.{NAMESPACE}.svc:3200"
TEMPO_OTLP_GRPC = f"tempo.{NAMESPACE}.svc:4317"
# The Alertmanager config Secret the operator mounts (`useExistingSecret`: alertmanager-<Alertmanager name>).
ALERTMANAGER_CONFIG_SECRET = f"alertmanager-{KPS_NAME}-alertmanager"

# Grafana data sources, by uid: every dashboard names one of these.
DATASOURCES = {"prometheus": "Prometheus", "loki": "Loki", "tempo": "Tempo", "alertmanager": "Alertmanager"}


def storage_class(config: StackConfig) -> str:
    return config.storage.default_class


def retention_size(quantity: str) -> str:
    """Prometheus' size-based retention: 85% of its volume, so the TSDB never fills it (e.g. `85GB` of 100Gi)."""
    gigabytes = int(parse_quantity(quantity) * 85 / 100 / 10**9)
    return f"{max(gigabytes, 1)}GB"
