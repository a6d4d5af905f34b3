"""Configuration of the shared data services: replicas, storage and compute per service.

MySQL (Percona XtraDB Cluster) and OpenSearch carry their own sections (`Mysql`, `OpenSearch`): how
their memory is shared out, their backups and, for MySQL, a restore to run. RabbitMQ and Valkey use the
common `DataService`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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


class MysqlBackup(Model):
    time: str = Field("02:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="daily full backup, HH:MM UTC")
    keep_days: int | None = Field(
        None, ge=1, le=3650, description="days of daily full backups kept; defaults to backup.retentionDays"
    )
    pitr: bool = Field(True, description="upload binlogs continuously for point-in-time recovery")
    binlog_upload_seconds: int = Field(60, ge=10, le=3600, description="seconds between binlog uploads (the PITR recovery point)")


class MysqlRestore(Model):
    """A restore the operator runs once (docs/runbooks/restore-mysql.md): from a named backup or a
    backup's S3 destination, optionally rolled forward to a point in time with the uploaded binlogs."""

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$", description="name of the restore object (one per drill)")
    backup_name: str | None = Field(None, description="a PerconaXtraDBClusterBackup in the cluster's namespace")
    backup_destination: str | None = Field(
        None, pattern=r"^s3://[a-z0-9.-]+/.+$", description="s3://bucket/path of a full backup (when the backup object is gone)"
    )
    point_in_time: str | None = Field(
        None, pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", description="roll forward to 'YYYY-MM-DD hh:mm:ss' (UTC) with the binlogs"
    )

    @model_validator(mode="after")
    def _one_source(self) -> MysqlRestore:
        if (self.backup_name is None) == (self.backup_destination is None):
            raise ValueError("give exactly one of backupName and backupDestination")
        return self


class Mysql(DataService):
    buffer_pool_share: float = Field(
        0.6, ge=0.3, le=0.75, description="share of the memory limit given to the InnoDB buffer pool"
    )
    strict_mode: Literal["PERMISSIVE", "ENFORCING"] = Field(
        "PERMISSIVE",
        description="pxc_strict_mode: PERMISSIVE logs what Galera cannot replicate safely (Magento's queue_poison_pill has no primary key)",
    )
    haproxy: ComputeResources = Field(
        default_factory=lambda: sized("100m", "128Mi", "500m", "256Mi"), description="requests and limits per HAProxy pod"
    )
    backup: MysqlBackup = Field(default_factory=MysqlBackup, description="full backups and binlogs to the mysql bucket")
    restore: MysqlRestore | None = Field(None, description="a restore to run (remove it once the drill is done)")


class OpenSearchSnapshots(Model):
    time: str = Field("03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="daily snapshot, HH:MM UTC")
    keep_days: int | None = Field(None, ge=1, le=3650, description="days snapshots are kept; defaults to backup.retentionDays")


class OpenSearch(DataService):
    snapshots: OpenSearchSnapshots = Field(
        default_factory=OpenSearchSnapshots, description="daily snapshots to the opensearch bucket"
    )


class DataServices(Model):
    mysql: Mysql = Field(
        Mysql(storage="20Gi", resources=sized("1", "2Gi", "1", "2Gi")), description="Percona XtraDB Cluster (MySQL 8.4)"
    )
    opensearch: OpenSearch = Field(
        OpenSearch(storage="20Gi", resources=sized("1", "2Gi", "1", "2Gi")), description="OpenSearch 2.19"
    )
    rabbitmq: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="RabbitMQ 4.1")
    valkey: Valkey = Field(
        Valkey(storage="5Gi", resources=ComputeResources(cpu_request="250m", memory_request="512Mi", cpu_limit="500m", memory_limit="512Mi")),
        description="Valkey 8.1: an instance per store and purpose, with Sentinel in prod",
    )
