"""The buckets by purpose and the backup streams in them: who writes where, and how each bucket expires data.

One bucket per purpose (`BackupBuckets`); inside a bucket each consumer writes under a fixed prefix, named
here once so that the consumer's configuration (PXC backup storage, OpenSearch snapshot repository, Velero
backup location) and the backup verifier (`ops backups verify`) agree on it.

Lifecycle per purpose. Every bucket is versioned and expires noncurrent versions and abandoned multipart
uploads. Current objects expire only where one object (or one directory of objects) is one backup and
nothing else refers to it: database backups and binlogs, logs and traces. OpenSearch snapshot repositories
and Velero's Kopia repository share blobs between backups, so expiring their objects by age would corrupt
every later backup; those tools prune themselves (snapshot policy, backup TTL) and the verifier checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.config.model import Backup, StackConfig

Purpose = Literal["velero", "mysql", "opensearch", "telemetry", "media"]
PURPOSES: tuple[Purpose, ...] = ("velero", "mysql", "opensearch", "telemetry", "media")
GRACE_DAYS = 1  # a lifecycle rule or a pruner runs once a day: an object may outlive its retention by a day
MULTIPART_DAYS = 7


@dataclass(frozen=True)
class Stream:
    """A backup stream the verifier checks: where its backups are and what one backup looks like."""

    key: Literal["mysql", "mysql_binlogs", "opensearch", "velero", "etcd"]  # its objective (`objective_hours`)
    purpose: Purpose
    path: str  # below `<environment>/` in the bucket, where the consumer writes ('' or ending with '/')
    # How objects group into one backup: "directory" (the first path part below the prefix is one backup, as
    # PXC's `<cluster>-<time>-full/` and Velero's `<name>/`), or "object" (each object is one: binlogs,
    # OpenSearch `snap-*.dat`).
    unit: Literal["directory", "object"]
    match: str = ""  # only objects whose name below the prefix starts with this count (e.g. `snap-`)
    description: str = ""
    # False: the stream lives at `<path><environment>/`, beside `<environment>/` rather than in it. Velero
    # refuses a backup location whose prefix holds a directory it does not know ("Backup store contains
    # invalid top-level directories", velero pkg/persistence/object_store.go IsValid), so nothing else may
    # write below `<environment>/` of the velero bucket.
    under_environment: bool = True

    def prefix(self, environment: str) -> str:
        return f"{environment}/{self.path}" if self.under_environment else f"{self.path}{environment}/"


ETCD_PATH = "etcd-snapshots/"  # s3://<backup.buckets.velero>/etcd-snapshots/<environment>/etcd-<UTC time>.db
ETCD_OBJECT_PREFIX = "etcd-"

# Every consumer writes below `<environment>/` of its bucket: PXC (components/data/pxc.py, storages `full` and
# `binlogs`), OpenSearch (snapshot repository base_path), Velero (backup storage location prefix).
STREAMS: tuple[Stream, ...] = (
    Stream("mysql", "mysql", "full/", "directory", description="full database backups (PXC operator, xtrabackup)"),
    Stream("mysql_binlogs", "mysql", "binlogs/", "object", description="binlogs for point-in-time recovery (PXC PITR)"),
    Stream("opensearch", "opensearch", "", "object", match="snap-", description="search snapshots (OpenSearch snapshot policy)"),
    Stream("velero", "velero", "backups/", "directory", description="cluster backups (Velero, prefix <environment>)"),
    Stream("etcd", "velero", ETCD_PATH, "object", match=ETCD_OBJECT_PREFIX, under_environment=False,
           description="etcd snapshots (CronJob etcd-backup on the control planes, components/platform/etcd_backup.py)"),
)
TELEMETRY_PATHS = {"loki": "loki/", "tempo": "tempo/"}  # below <environment>/ of the telemetry bucket


def media_prefix(environment: str, site: str) -> str:
    """Where a store's media live in the media bucket."""
    return f"{environment}/sites/{site}/"


def stream(key: str) -> Stream:
    return next(s for s in STREAMS if s.key == key)


def streams_of(config: StackConfig) -> tuple[Stream, ...]:
    """The streams a stack writes: etcd snapshots only where this program runs etcd (cluster.mode kubeadm)."""
    return tuple(s for s in STREAMS if s.key != "etcd" or config.cluster.mode == "kubeadm")


def retention_days(config: StackConfig, key: str) -> int:
    """Days the backups of a stream are kept: what its tool is told to keep (the database and search
    sections may keep fewer days than `backup.retentionDays`, never more: config check)."""
    assert config.backup is not None
    default = config.backup.retention_days
    if key in ("mysql", "mysql_binlogs"):
        return config.data.mysql.backup.keep_days or default
    if key == "opensearch":
        return config.data.opensearch.snapshots.keep_days or default
    if key == "etcd":
        return config.backup.etcd.retention_days
    return default


def objective_hours(config: StackConfig, key: str) -> int:
    """The recovery-point objective of a stream: `backup.objectives`, or for etcd snapshots the longest gap
    of their schedule plus an hour (`backup.etcd.schedule`)."""
    assert config.backup is not None
    if key == "etcd":
        return config.backup.etcd.rpo_hours
    return getattr(config.backup.objectives, key).rpo_hours


@dataclass(frozen=True)
class LifecycleRule:
    """One lifecycle rule: under `prefix`, expire current objects after `expire_days` (None: never), noncurrent
    versions after `noncurrent_days`, abandoned multipart uploads after `multipart_days`."""

    id: str
    prefix: str
    expire_days: int | None
    noncurrent_days: int
    multipart_days: int = MULTIPART_DAYS


def lifecycle(purpose: Purpose, settings: Backup, environment: str) -> list[LifecycleRule]:
    """The bucket's lifecycle rules (where rules overlap, S3 applies the shortest expiry that matches).

    Database backups and binlogs expire a day after `backup.retentionDays`: the operator deletes the full
    backups it no longer keeps itself (`data.mysql.backup.keepDays`, at most that long), and binlogs older
    than the oldest full backup serve no point-in-time recovery.
    """
    noncurrent = settings.noncurrent_version_days
    if purpose == "mysql":
        return [
            LifecycleRule(f"expire-{s.key.replace('_', '-')}", s.prefix(environment), settings.retention_days + GRACE_DAYS, noncurrent)
            for s in STREAMS if s.purpose == "mysql"
        ] + [LifecycleRule("noncurrent", "", None, noncurrent)]
    if purpose == "telemetry":
        return [LifecycleRule("expire-telemetry", "", settings.telemetry_retention_days + GRACE_DAYS, noncurrent)]
    if purpose == "velero":
        # Velero's Kopia repository prunes itself; etcd snapshots are one object each and nothing else prunes them.
        etcd = stream("etcd")
        return [LifecycleRule("expire-etcd-snapshots", etcd.prefix(environment), settings.etcd.retention_days + GRACE_DAYS, noncurrent),
                LifecycleRule("noncurrent", "", None, noncurrent)]
    # opensearch: the tool prunes its own repository; media: kept until the store deletes it
    return [LifecycleRule("noncurrent", "", None, noncurrent)]
