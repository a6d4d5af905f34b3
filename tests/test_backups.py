"""The backup target: the S3 provider points at the configured endpoint with secret credentials, and every
bucket is versioned, encrypted, private and expires old versions."""

from __future__ import annotations

import json

import pytest

from offline.engine import Recording

STREAMS = ("velero", "mysql", "opensearch", "media")


def test_provider_points_at_the_configured_endpoint_with_secret_keys(prod: Recording):
    provider = prod.named("object-storage", "pulumi:providers:aws")
    assert provider.inputs["region"] == "gra"
    # provider configuration reaches the engine JSON-encoded
    assert json.loads(provider.inputs["endpoints"]) == [{"s3": "https://s3.gra.io.cloud.ovh.net"}]
    assert {"accessKey", "secretKey"} <= provider.secret_paths
    assert provider.inputs["s3UsePathStyle"] == "true"
    assert provider.inputs["skipRequestingAccountId"] == "true"


@pytest.mark.parametrize("stream", STREAMS)
def test_bucket_is_versioned_encrypted_private_with_lifecycle(prod: Recording, stream: str):
    bucket = prod.named(f"{stream}-bucket", "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == f"magento-prod-{stream}"
    assert bucket.inputs.get("forceDestroy") in (False, None)
    bucket_id = f"magento-prod-{stream}"  # the bucket's id (its name) wires every setting to it
    versioning = prod.named(f"{stream}-versioning")
    assert versioning.inputs["bucket"] == bucket_id
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    encryption = prod.named(f"{stream}-encryption")
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = prod.named(f"{stream}-public-access-block")
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    lifecycle = prod.named(f"{stream}-lifecycle")
    rule = lifecycle.inputs["rules"][0]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    for child in (versioning, encryption, block, lifecycle):
        assert child.provider.startswith(prod.named("object-storage", "pulumi:providers:aws").urn)


def test_buckets_are_protected_when_protect_stateful(prod: Recording, run):
    import yaml

    from offline.stackfile import ROOT

    assert all(b.protect for b in prod.of_type("aws:s3/bucket:Bucket"))
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values["magento:protectStateful"] = False
    recording = run(values, stack="prod")
    assert not any(b.protect for b in recording.of_type("aws:s3/bucket:Bucket"))
