"""Configuration of the shared data services: replicas, storage and compute per service.

MySQL (Percona XtraDB Cluster) and OpenSearch carry their own sections (`Mysql`, `OpenSearch`): how
their memory is shared out, their backups and, for MySQL, a restore to run. RabbitMQ and Valkey use the
common `DataService`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from components.config.base import ComputeResources, Model, sized
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
    valkey: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="Valkey 8.1 with Sentinel")
