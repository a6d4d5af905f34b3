"""Observability: kube-prometheus-stack, Loki, Tempo, Grafana and Alloy, with the platform's alert rules and
dashboards (`layer.py` composes them; one module per chart; rules/ and dashboards/ hold the data files)."""

from components.platform.observability.layer import Observability, PrometheusOperatorCrds

__all__ = ["Observability", "PrometheusOperatorCrds"]
