"""The backup verifier against moto's S3: fresh, stale, missing, empty, wrong prefix and retention breached,
the printed table, the exit code, and that no credential is ever printed."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from components.backups.streams import STREAMS, stream
from ops import backups
from ops.__main__ import main
from ops.stack import load

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SECRET = "verifier-secret-key-must-never-print"


@pytest.fixture
def config():
    return load("prod")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, config) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "verifier-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for name in config.backup.buckets.model_dump().values():
            client.create_bucket(Bucket=name)
        yield client


def put(monkeypatch: pytest.MonkeyPatch, client, bucket: str, key: str, body: bytes = b"data", *, at: dt.datetime) -> None:
    """An object as if written at `at` (moto stamps LastModified with its clock)."""
    import moto.s3.models as models

    monkeypatch.setattr(models, "utcnow", lambda: at.replace(tzinfo=None))
    client.put_object(Bucket=bucket, Key=key, Body=body)


def fill_fresh(monkeypatch, client, config, *, skip: str = "") -> None:
    """A healthy set of backups: daily for three days, binlogs every half hour for the last hours."""
    env = config.environment
    for days in (0, 1, 2):
        at = NOW - dt.timedelta(days=days, hours=2)
        if skip != "mysql":
            put(monkeypatch, client, config.backup.buckets.mysql, f"{env}/full/cluster1-{days}-full/xtrabackup.stream", at=at)
        if skip != "opensearch":
            put(monkeypatch, client, config.backup.buckets.opensearch, f"{env}/snap-{days}.dat", at=at)
            put(monkeypatch, client, config.backup.buckets.opensearch, f"{env}/indices/abc/0/__blob{days}", at=at)
        if skip != "velero":
            put(monkeypatch, client, config.backup.buckets.velero, f"{env}/backups/daily-{days}/velero-backup.json", at=at)
    if skip != "etcd":  # every 6 hours (backup.etcd.schedule), as the etcd-backup CronJob uploads them
        for hours in (1, 7, 13):
            at = NOW - dt.timedelta(hours=hours)
            put(monkeypatch, client, config.backup.buckets.velero, f"etcd-snapshots/{env}/etcd-{at:%Y%m%dT%H%M%SZ}.db", at=at)
    if skip != "mysql_binlogs":
        for minutes in (20, 50, 80):
            put(monkeypatch, client, config.backup.buckets.mysql, f"{env}/binlogs/binlog.{minutes:06d}", at=NOW - dt.timedelta(minutes=minutes))


def by_stream(results) -> dict[str, backups.Result]:
    return {r.stream: r for r in results}


def test_fresh_backups_pass(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    results = by_stream(backups.verify(s3, config, NOW))
    assert set(results) == {s.key for s in STREAMS}
    assert all(r.ok for r in results.values()), {k: r.problems for k, r in results.items()}
    assert len(results["mysql"].backups) == 3 and results["mysql"].backups[0].name == "cluster1-0-full"
    assert len(results["opensearch"].backups) == 3  # snap-*.dat only, not the shared index blobs
    assert len(results["mysql_binlogs"].backups) == 3


def test_stale_backups_fail_past_their_objective(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    later = NOW + dt.timedelta(hours=24)  # daily backups are now 26 h old; binlogs 24 h old
    results = by_stream(backups.verify(s3, config, later))
    assert not results["mysql"].ok and "older than the 25 h objective" in results["mysql"].problems[0]
    assert not results["mysql_binlogs"].ok and "older than the 1 h objective" in results["mysql_binlogs"].problems[0]
    assert not results["velero"].ok and not results["opensearch"].ok


def test_missing_backups_fail(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config, skip="velero")
    results = by_stream(backups.verify(s3, config, NOW))
    assert results["velero"].problems == [f"no backup under s3://{config.backup.buckets.velero}/prod/backups/"]
    assert results["mysql"].ok


def test_an_empty_newest_backup_fails(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    put(monkeypatch, s3, config.backup.buckets.mysql, "prod/full/cluster1-new-full/xtrabackup.stream", b"", at=NOW - dt.timedelta(minutes=5))
    result = by_stream(backups.verify(s3, config, NOW))["mysql"]
    assert result.problems == ["newest backup cluster1-new-full is empty (0 bytes in 1 objects)"]


def test_backups_under_the_wrong_prefix_are_reported_as_missing_with_where_they_are(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config, skip="opensearch")
    put(monkeypatch, s3, config.backup.buckets.opensearch, "snapshots/snap-1.dat", at=NOW - dt.timedelta(hours=1))
    result = by_stream(backups.verify(s3, config, NOW))["opensearch"]
    assert not result.ok
    assert "no backup under s3://magento-prod-opensearch/prod/" in result.problems[0]
    assert "objects under snapshots/: wrong prefix?" in result.problems[0]


def test_retention_breached_when_old_backups_are_not_pruned(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    keep = stream("velero")
    put(monkeypatch, s3, config.backup.buckets.velero, f"prod/{keep.path}daily-old/velero-backup.json", at=NOW - dt.timedelta(days=40))
    results = by_stream(backups.verify(s3, config, NOW))
    assert results["velero"].problems == ["retention breached: a backup is 40.0 d old, kept 35 d (+1 d grace)"]
    assert results["mysql"].ok


def test_within_grace_is_not_a_breach(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    put(monkeypatch, s3, config.backup.buckets.velero, "prod/backups/daily-35/velero-backup.json", at=NOW - dt.timedelta(days=35, hours=12))
    assert by_stream(backups.verify(s3, config, NOW))["velero"].ok


def test_the_command_prints_a_table_exits_nonzero_on_failure_and_never_prints_a_credential(monkeypatch, s3, config, capsys):
    monkeypatch.setattr(backups, "s3_client", lambda _config: s3)
    fill_fresh(monkeypatch, s3, config)
    assert main(["backups", "verify", "--stack", "prod"], now=NOW) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split() == ["stream", "location", "backups", "newest", "age", "size", "rpo", "keep", "status"]
    assert [line.split()[0] for line in lines[2:7]] == [s.key for s in STREAMS]
    assert all(line.split()[-1] == "ok" for line in lines[2:7])
    s3.delete_object(Bucket=config.backup.buckets.velero, Key="prod/backups/daily-0/velero-backup.json")
    s3.delete_object(Bucket=config.backup.buckets.velero, Key="prod/backups/daily-1/velero-backup.json")
    s3.delete_object(Bucket=config.backup.buckets.velero, Key="prod/backups/daily-2/velero-backup.json")
    assert main(["backups", "verify", "--stack", "prod"], now=NOW) == 1
    failed = capsys.readouterr()
    assert "FAIL velero: no backup under" in failed.out
    for text in (out.out, out.err, failed.out, failed.err):
        assert SECRET not in text and os.environ["AWS_ACCESS_KEY_ID"] not in text


def test_a_listing_error_is_a_failure_without_credentials(monkeypatch, s3, config):
    s3.delete_bucket(Bucket=config.backup.buckets.velero)
    result = by_stream(backups.verify(s3, config, NOW))["velero"]
    assert result.problems == [f"cannot list s3://{config.backup.buckets.velero}/prod/backups/: NoSuchBucket NoSuchBucket"]
    assert SECRET not in backups.table([result], NOW)


def test_a_stack_without_backup_target_cannot_be_verified(capsys):
    assert main(["backups", "verify", "--stack", "dev"]) == 2
    assert "no backup target" in capsys.readouterr().err


def test_etcd_snapshots_are_checked_against_their_schedule(monkeypatch, s3, config):
    """backup.etcd.schedule runs every 6 hours: a snapshot older than 7 hours is stale, long before a day."""
    fill_fresh(monkeypatch, s3, config)
    results = by_stream(backups.verify(s3, config, NOW))
    etcd = results["etcd"]
    assert etcd.ok and etcd.rpo_hours == 7 and etcd.retention_days == 14 and len(etcd.backups) == 3
    assert etcd.prefix == "etcd-snapshots/prod/" and etcd.bucket == config.backup.buckets.velero
    later = by_stream(backups.verify(s3, config, NOW + dt.timedelta(hours=7)))["etcd"]
    assert later.problems == [f"newest backup {etcd.backups[0].name} is 8.0 h old: older than the 7 h objective"]


def test_missing_etcd_snapshots_fail_and_velero_keeps_its_prefix_to_itself(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config, skip="etcd")
    results = by_stream(backups.verify(s3, config, NOW))
    # Velero's objects under prod/ are no "wrong prefix" hint: they are the velero stream's
    assert results["etcd"].problems == ["no backup under s3://magento-prod-velero/etcd-snapshots/prod/"]
    assert results["velero"].ok
    # Velero refuses a backup location whose prefix holds a directory it does not know: nothing else is below prod/
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=config.backup.buckets.velero)["Contents"]]
    assert {k.split("/")[1] for k in keys if k.startswith("prod/")} == {"backups"}


def test_etcd_snapshots_past_their_retention_fail(monkeypatch, s3, config):
    fill_fresh(monkeypatch, s3, config)
    put(monkeypatch, s3, config.backup.buckets.velero, "etcd-snapshots/prod/etcd-old.db", at=NOW - dt.timedelta(days=16))
    assert by_stream(backups.verify(s3, config, NOW))["etcd"].problems == [
        "retention breached: a backup is 16.0 d old, kept 14 d (+1 d grace)"]


def test_an_existing_cluster_has_no_etcd_stream(monkeypatch, s3, config):
    existing = config.model_copy(update={"cluster": config.cluster.model_copy(update={"mode": "existing"})})
    fill_fresh(monkeypatch, s3, config, skip="etcd")
    results = by_stream(backups.verify(s3, existing, NOW))
    assert "etcd" not in results and all(r.ok for r in results.values())
