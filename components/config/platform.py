"""Configuration of the platform services (secrets backend, observability, registries)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import Model
from components.config.types import Quantity


class Observability(Model):
    retention_days: int = Field(15, ge=1, le=3650, description="days metrics and logs are kept")
    prometheus_storage: Quantity = Field("50Gi", description="Prometheus volume size")
    loki_storage: Quantity = Field("50Gi", description="Loki volume size")
    service_monitors: bool = Field(
        False,
        description="create ServiceMonitors for the cluster components (needs the Prometheus Operator CRDs: "
        "turn on once kube-prometheus-stack is installed)",
    )


class Platform(Model):
    secrets_backend: Literal["openbao", "vault"] = Field("openbao", description="secrets store behind External Secrets")
    observability: Observability = Field(Observability(), description="metrics and logs")
    allowed_registries: list[str] = Field(
        default_factory=lambda: ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"],
        description="registries images may come from (policy pack and Kyverno)",
    )
