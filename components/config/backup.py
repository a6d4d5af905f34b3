"""Configuration of the S3-compatible backup target and its buckets."""

from __future__ import annotations

from pydantic import Field

from components.config.base import Model
from components.config.types import BucketName


class BackupBuckets(Model):
    velero: BucketName = Field(description="bucket for Velero cluster backups")
    mysql: BucketName = Field(description="bucket for MySQL backups and binlogs (PITR)")
    opensearch: BucketName = Field(description="bucket for OpenSearch snapshots")
    media: BucketName = Field(description="bucket for the stores' media")


class Backup(Model):
    endpoint: str = Field(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/?$", description="S3-compatible endpoint (https)")
    region: str = Field(pattern=r"^[a-z0-9-]{2,32}$", description="region of the object storage")
    buckets: BackupBuckets = Field(description="one bucket per backup stream")
    retention_days: int = Field(30, ge=1, le=3650, description="days backups are kept")
    noncurrent_version_days: int = Field(30, ge=1, le=3650, description="days overwritten or deleted object versions are kept")
