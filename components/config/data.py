"""Configuration of the shared data services: replicas, storage and compute per service."""

from __future__ import annotations

from pydantic import Field

from components.config.base import ComputeResources, Model, resources_field, sized
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


class ValkeyStores(Model):
    """Requests and limits of each store's pods where they differ from `valkey.resources`."""

    cache: ComputeResources | None = Field(None, description="the store's application cache (may evict: allkeys-lru)")
    session: ComputeResources | None = Field(None, description="the store's sessions (never evicts: noeviction)")


class Valkey(DataService):
    """Valkey: an instance per store and purpose (replicas: 1 = standalone, 3 = primary + 2 replicas + Sentinel)."""

    maxmemory_percent: int = Field(
        70, ge=10, le=90,
        description="maxmemory as a share of the memory limit (the rest: replication buffers, fork copy-on-write, fragmentation)",
    )
    stores: ValkeyStores = Field(ValkeyStores(), description="per-purpose requests and limits")
    sentinel: ComputeResources = resources_field(sized("50m", "64Mi", "200m", "128Mi"), "each Sentinel (prod)")
    helper: ComputeResources = resources_field(sized("10m", "32Mi", "100m", "64Mi"), "each init container")

    def store_resources(self, purpose: str) -> ComputeResources:
        return getattr(self.stores, purpose) or self.resources


class DataServices(Model):
    mysql: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="Percona XtraDB Cluster (MySQL 8.4)")
    opensearch: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="OpenSearch 2.19")
    rabbitmq: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="RabbitMQ 4.1")
    valkey: Valkey = Field(
        Valkey(storage="5Gi", resources=ComputeResources(cpu_request="250m", memory_request="512Mi", cpu_limit="500m", memory_limit="512Mi")),
        description="Valkey 8.1: an instance per store and purpose, with Sentinel in prod",
    )
