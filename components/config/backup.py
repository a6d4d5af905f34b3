"""Configuration of the S3-compatible backup target: its buckets (one per purpose), retention and objectives."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.config import cron
from components.config.base import Model
from components.config.types import BucketName


class BackupBuckets(Model):
    velero: BucketName = Field(description="bucket for cluster backups (Velero: objects and volume data)")
    mysql: BucketName = Field(description="bucket for database backups: full backups and binlogs (PITR)")
    opensearch: BucketName = Field(description="bucket for search snapshots (OpenSearch snapshot repository)")
    telemetry: BucketName = Field(description="bucket for logs and traces (Loki chunks, Tempo blocks)")
    media: BucketName = Field(description="bucket for the stores' media (one prefix per store)")


class Objective(Model):
    """What the backup verifier checks for one backup stream."""

    rpo_hours: int = Field(ge=1, le=744, description="recovery-point objective: the newest backup is at most this old")


class Objectives(Model):
    mysql: Objective = Field(Objective(rpo_hours=25), description="full database backups (daily)")
    mysql_binlogs: Objective = Field(Objective(rpo_hours=1), description="binlogs uploaded for point-in-time recovery")
    opensearch: Objective = Field(Objective(rpo_hours=25), description="search snapshots (daily)")
    velero: Objective = Field(Objective(rpo_hours=25), description="cluster backups (daily)")


CronSchedule = Annotated[str, AfterValidator(cron.validate)]
RPO_SLACK_HOURS = 1  # a run that takes up to an hour (save, verify, upload) still meets the objective


class EtcdSnapshots(Model):
    """Scheduled etcd snapshots to the cluster-backups bucket (kubeadm clusters with a backup target)."""

    schedule: CronSchedule = Field(
        "0 */6 * * *",
        description="cron (UTC) of the etcd snapshot CronJob on the control planes; the verifier's objective is the "
        "longest gap between two runs plus an hour",
    )
    retention_days: int = Field(14, ge=1, le=3650, description="days etcd snapshots are kept (the bucket's lifecycle expires older ones)")

    @property
    def rpo_hours(self) -> int:
        return math.ceil(cron.longest_gap(self.schedule).total_seconds() / 3600) + RPO_SLACK_HOURS


class OvhObjectStorage(Model):
    """The OVH Public Cloud project whose Object Storage holds the buckets: where per-store S3 users are made."""

    service_name: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="id of the OVH Public Cloud project (32 hex digits) that owns the buckets; the stores' S3 users are created in it",
    )
    api_endpoint: Literal["ovh-eu", "ovh-ca", "ovh-us"] = Field(
        "ovh-eu", description="OVH API endpoint the ovh provider talks to (keys: secret settings ovhApplicationKey, ovhApplicationSecret, ovhConsumerKey)"
    )


class Backup(Model):
    endpoint: str = Field(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/?$", description="S3-compatible endpoint (https)")
    region: str = Field(pattern=r"^[a-z0-9-]{2,32}$", description="region of the object storage")
    buckets: BackupBuckets = Field(description="one bucket per purpose")
    retention_days: int = Field(
        30, ge=1, le=3650,
        description="days backups are kept: the lifecycle of the database bucket, Velero's TTL, and the default of "
        "data.mysql.backup.keepDays and data.opensearch.snapshots.keepDays (which may only be shorter)",
    )
    telemetry_retention_days: int = Field(
        31, ge=1, le=3650, description="days logs and traces are kept in their bucket (a lifecycle rule expires older ones)"
    )
    noncurrent_version_days: int = Field(30, ge=1, le=3650, description="days overwritten or deleted object versions are kept")
    public_access_block: bool = Field(
        True,
        description="put a public access block on every bucket; false only for an endpoint without that API "
        "(the buckets stay private through their ACL)",
    )
    media_credentials: Literal["manual", "ovh"] = Field(
        "manual",
        description="where each store's media keys come from: ovh (the program creates one OVH S3 user per store whose "
        "policy reaches only the store's prefix of the media bucket; needs backup.ovh and the ovh* secret settings) or manual "
        "(Secret media-credentials in site-<name>, made by hand: docs/runbooks/media-credentials.md)",
    )
    ovh: OvhObjectStorage | None = Field(None, description="the OVH Public Cloud project of the buckets (needed by mediaCredentials: ovh)")
    objectives: Objectives = Field(Objectives(), description="recovery-point objective per backup stream (the verifier's freshness check)")
    etcd: EtcdSnapshots = Field(EtcdSnapshots(), description="scheduled etcd snapshots (kubeadm clusters): schedule and retention")

    @model_validator(mode="after")
    def _rpo_within_retention(self) -> Backup:
        for name, field in Objectives.model_fields.items():
            objective: Objective = getattr(self.objectives, name)
            if objective.rpo_hours > 24 * self.retention_days:
                raise ValueError(f"objectives.{field.alias or name}.rpoHours is longer than retentionDays: no backup could ever be fresh")
        if self.etcd.rpo_hours > 24 * self.etcd.retention_days:
            raise ValueError(f"etcd.schedule runs less often than etcd.retentionDays ({self.etcd.retention_days} d): "
                             "the newest snapshot would expire before the next one")
        return self
