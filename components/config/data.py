"""Configuration of the shared data services: replicas, storage and compute per service."""

from __future__ import annotations

from pydantic import Field

from components.config.base import ComputeResources, Model
from components.config.types import Quantity


class DataService(Model):
    replicas: int | None = Field(None, ge=1, le=9, description="defaults to 3 with 3+ failure domains, else 1")
    storage: Quantity = Field(description="volume size per replica")
    resources: ComputeResources = Field(description="requests and limits per replica")


def _default_service(cpu: str, memory: str, storage: str) -> DataService:
    return DataService(
        storage=storage,
        resources=ComputeResources(cpu_request=cpu, memory_request=memory, cpu_limit=cpu, memory_limit=memory),
    )


class DataServices(Model):
    mysql: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="Percona XtraDB Cluster (MySQL 8.4)")
    opensearch: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="OpenSearch 2.19")
    rabbitmq: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="RabbitMQ 4.1")
    valkey: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="Valkey 8.1 with Sentinel")
