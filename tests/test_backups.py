"""The backup target: one bucket per purpose at the configured endpoint, each versioned, encrypted, private,
with lifecycle rules from the retention settings, and no lifecycle resource that waits for an AWS-only header."""

from __future__ import annotations

import json

import pytest

from components.backups.streams import PURPOSES, STREAMS, lifecycle, stream
from components.config.model import Backup
from offline.engine import Recording
from tests.layer_helpers import problems, stack_values


def test_provider_points_at_the_configured_endpoint_with_secret_keys(prod: Recording):
    provider = prod.named("object-storage", "pulumi:providers:aws")
    assert provider.inputs["region"] == "gra"
    # provider configuration reaches the engine JSON-encoded
    assert json.loads(provider.inputs["endpoints"]) == [{"s3": "https://s3.gra.io.cloud.ovh.net"}]
    assert {"accessKey", "secretKey"} <= provider.secret_paths
    assert provider.inputs["s3UsePathStyle"] == "true"
    assert provider.inputs["skipRequestingAccountId"] == "true"


def test_one_bucket_per_purpose(prod: Recording):
    buckets = {b.inputs["bucket"] for b in prod.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {f"magento-prod-{p}" for p in PURPOSES}
    assert set(PURPOSES) == {"velero", "mysql", "opensearch", "telemetry", "media"}


@pytest.mark.parametrize("purpose", PURPOSES)
def test_bucket_is_versioned_encrypted_private_with_lifecycle(prod: Recording, purpose: str):
    provider = prod.named("object-storage", "pulumi:providers:aws")
    bucket = prod.named(f"{purpose}-bucket", "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == f"magento-prod-{purpose}"
    assert bucket.inputs.get("forceDestroy") in (False, None)
    assert bucket.inputs["acl"] == "private"
    # versioning and lifecycle in the bucket's own update: versioning is put before the lifecycle
    assert bucket.inputs["versioning"]["enabled"] is True
    rules = bucket.inputs["lifecycleRules"]
    assert rules and all(r["enabled"] is True for r in rules)
    assert all(r["noncurrentVersionExpiration"]["days"] == 30 for r in rules)
    assert all(r["abortIncompleteMultipartUploadDays"] == 7 for r in rules)
    bucket_id = f"magento-prod-{purpose}"  # the bucket's id (its name) wires every setting to it
    encryption = prod.named(f"{purpose}-encryption")
    assert encryption.inputs["bucket"] == bucket_id
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = prod.named(f"{purpose}-public-access-block")
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    for child in (bucket, encryption, block):
        assert child.provider.startswith(provider.urn)


def test_no_lifecycle_resource_waits_for_an_aws_only_header(stack_recording: Recording):
    """`BucketLifecycleConfiguration` waits for `x-amz-transition-default-minimum-object-size`, which only AWS
    echoes: against an S3-compatible endpoint every `up` would time out."""
    assert stack_recording.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") == []
    assert stack_recording.of_type("aws:s3/bucketVersioning:BucketVersioning") == []


def _stack_file(stack: str) -> dict:
    """The stack file's config mapping as written (every namespace: magento:, pulumi:)."""
    import yaml

    from offline.stackfile import ROOT

    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def _rules(rec: Recording, purpose: str) -> dict[str, dict]:
    return {r["id"]: r for r in rec.named(f"{purpose}-bucket", "aws:s3/bucket:Bucket").inputs["lifecycleRules"]}


def test_lifecycle_expires_what_retention_says_and_never_shared_repositories(prod: Recording):
    mysql = _rules(prod, "mysql")
    assert mysql["expire-mysql"]["prefix"] == "prod/full/" and mysql["expire-mysql"]["expiration"]["days"] == 35 + 1
    assert mysql["expire-mysql-binlogs"]["prefix"] == "prod/binlogs/" and mysql["expire-mysql-binlogs"]["expiration"]["days"] == 35 + 1
    assert _rules(prod, "telemetry")["expire-telemetry"]["expiration"]["days"] == 31 + 1
    # OpenSearch and Velero repositories share blobs between backups: age-based expiry would corrupt them
    for purpose in ("opensearch", "media"):
        assert all("expiration" not in r for r in _rules(prod, purpose).values()), purpose
    # In the velero bucket only the etcd snapshots expire (one object each, backup.etcd.retentionDays), never Kopia's repository
    velero = _rules(prod, "velero")
    assert {i: (r["prefix"], r.get("expiration", {}).get("days")) for i, r in velero.items()} == {
        "expire-etcd-snapshots": ("etcd-snapshots/prod/", 14 + 1), "noncurrent": ("", None)}


def test_streams_have_distinct_prefixes_in_their_buckets():
    seen = {(s.purpose, s.prefix("prod")) for s in STREAMS}
    assert len(seen) == len(STREAMS)
    assert all(s.prefix("prod").endswith("/") for s in STREAMS)


def test_streams_are_where_the_consumers_write(prod: Recording):
    """PXC writes to `<env>/full` and `<env>/binlogs`, OpenSearch's repository to base_path `<env>`."""
    cluster = next(r for r in prod.own_objects() if r.inputs.get("kind") == "PerconaXtraDBCluster")
    storages = cluster.inputs["spec"]["backup"]["storages"]
    prefixes = {s["s3"]["prefix"] for s in storages.values()}
    assert {stream("mysql").prefix("prod"), stream("mysql_binlogs").prefix("prod")} == {p + "/" for p in prefixes}


def test_public_access_block_can_be_turned_off_for_an_endpoint_without_the_api(run):
    values = _stack_file("prod")
    values["magento:backup"]["publicAccessBlock"] = False
    recording = run(values, stack="prod")
    assert recording.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") == []
    assert all(b.inputs["acl"] == "private" for b in recording.of_type("aws:s3/bucket:Bucket"))


def test_rpo_longer_than_retention_is_rejected():
    values = stack_values("prod")
    values["backup"]["retentionDays"] = 5
    values["backup"]["objectives"]["mysqlBinlogs"] = {"rpoHours": 200}
    found = problems(values)
    assert any("mysqlBinlogs.rpoHours is longer than retentionDays" in m for m in found.values()), found


def test_a_tool_may_not_keep_backups_longer_than_the_bucket():
    values = stack_values("prod")
    values["data"]["mysql"].setdefault("backup", {})["keepDays"] = 60
    found = problems(values)
    assert "data.mysql.backup.keepDays" in found and "backup.retentionDays (35)" in found["data.mysql.backup.keepDays"]


def test_lifecycle_rules_from_settings():
    settings = Backup(endpoint="https://s3.example.net", region="gra",
                      buckets={p: f"b-{p}" for p in PURPOSES}, retention_days=10)
    rules = {r.id: r for r in lifecycle("mysql", settings, "dev")}
    assert rules["expire-mysql"].expire_days == 11 and rules["expire-mysql-binlogs"].expire_days == 11
    assert rules["noncurrent"].expire_days is None


def test_buckets_are_protected_when_protect_stateful(prod: Recording, run):
    assert all(b.protect for b in prod.of_type("aws:s3/bucket:Bucket"))
    values = _stack_file("prod")
    values["magento:protectStateful"] = False
    recording = run(values, stack="prod")
    assert not any(b.protect for b in recording.of_type("aws:s3/bucket:Bucket"))


@pytest.mark.parametrize(("schedule", "message"), [
    ("0 */6 * *", "has 4 fields; cron needs 5"),
    ("0 25 * * *", "hour: '25' is outside 0-23"),
    ("0 3 31 2 *", "runs less than twice in four years"),
    ("@daily", "has 1 fields"),
])
def test_a_bad_etcd_schedule_is_rejected_by_key(schedule, message):
    values = stack_values("prod")
    values["backup"]["etcd"] = {"schedule": schedule}
    found = problems(values)
    assert "backup.etcd.schedule" in found and message in found["backup.etcd.schedule"], found


def test_an_etcd_schedule_rarer_than_its_retention_is_rejected():
    values = stack_values("prod")
    values["backup"]["etcd"] = {"schedule": "0 3 1 * *", "retentionDays": 7}  # monthly, kept a week
    found = problems(values)
    assert any("etcd.schedule runs less often than etcd.retentionDays (7 d)" in m for m in found.values()), found


def test_the_etcd_objective_follows_the_schedule():
    from components.config.backup import EtcdSnapshots

    assert EtcdSnapshots().rpo_hours == 7  # every 6 hours
    assert EtcdSnapshots(schedule="30 2 * * *").rpo_hours == 25
    assert EtcdSnapshots(schedule="0 1,13 * * 1-5").rpo_hours == 61  # the weekend gap: Friday 13:00 to Monday 01:00
