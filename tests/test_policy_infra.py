"""Bucket and host-connection policies (chart provenance is the plan's chart check: tests/test_chart_rendering.py)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.backups import Backups, BackupsArgs
from components.config.model import Backup
from components.config.model import Host as HostSettings
from hosts.layer import Host, HostArgs
from tests.policy_support import evaluate, messages, of_policy

# ------------------------------------------------------------------------------------------ buckets

BACKUP = Backup(
    endpoint="https://s3.gra.io.cloud.ovh.net",
    region="gra",
    buckets={"velero": "t-velero", "mysql": "t-mysql", "opensearch": "t-opensearch", "telemetry": "t-telemetry", "media": "t-media"},
)


def test_backup_buckets_pass():
    report = evaluate(lambda: Backups("backups", BackupsArgs(BACKUP, "id", "key", "prod", protect=True)))
    assert of_policy(report, "bucket-protected") == []


def test_a_bare_bucket_fails_on_every_protection():
    report = evaluate(lambda: aws.s3.Bucket("bare", bucket="t-bare"))
    text = messages(report, "bucket-protected")
    for fragment in (
        "no BucketVersioning",
        "no server-side encryption",
        "no lifecycle configuration",
        "does not block public access",
    ):
        assert f"bucket t-bare: has {fragment}" in text or f"bucket t-bare: {fragment}" in text
    assert {v.resource_name for v in of_policy(report, "bucket-protected")} == {"bare"}


def _protected_bucket(name: str, **public) -> aws.s3.Bucket:
    """A bucket with every protection; `public` overrides the public access block flags."""
    bucket = aws.s3.Bucket(name, bucket=name)
    aws.s3.BucketVersioning(f"{name}-v", bucket=bucket.id, versioning_configuration={"status": "Enabled"})
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-e", bucket=bucket.id, rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}]
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-l", bucket=bucket.id, rules=[{"id": "x", "status": "Enabled", "filter": {"prefix": ""}}]
    )
    flags = {"block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True, "restrict_public_buckets": True}
    aws.s3.BucketPublicAccessBlock(f"{name}-p", bucket=bucket.id, **{**flags, **public})
    return bucket


def test_a_fully_protected_hand_built_bucket_passes():
    assert of_policy(evaluate(lambda: _protected_bucket("t-ok")), "bucket-protected") == []


def test_public_access_block_with_a_flag_off_fails():
    report = evaluate(lambda: _protected_bucket("t-open", block_public_policy=False))
    assert "bucket t-open: does not block public access" in messages(report, "bucket-protected")


def test_backup_buckets_without_public_access_block_api_pass_only_private_and_tagged():
    settings = BACKUP.model_copy(update={"public_access_block": False})
    report = evaluate(lambda: Backups("backups", BackupsArgs(settings, "id", "key", "prod", protect=True)))
    assert of_policy(report, "bucket-protected") == []

    def tagged_but_public():  # the tag alone does not excuse a bucket with a public canned ACL
        aws.s3.Bucket("t-tagged", bucket="t-tagged", acl="public-read", tags={"public-access-block": "unsupported-by-endpoint"},
                      versioning={"enabled": True}, lifecycle_rules=[{"enabled": True, "id": "x"}],
                      server_side_encryption_configuration={"rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}})

    text = messages(evaluate(tagged_but_public), "bucket-protected")
    assert "bucket t-tagged: has no public access block (endpoint without the API) and no private canned ACL" in text


def test_public_acl_and_any_principal_policy_fail():
    def program():
        bucket = _protected_bucket("t-pub")
        aws.s3.BucketAcl("t-pub-acl", bucket=bucket.id, acl="public-read")
        aws.s3.BucketPolicy(
            "t-pub-policy",
            bucket=bucket.id,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}],
                }
            ),
        )

    text = messages(evaluate(program), "bucket-protected")
    assert "BucketAcl t-pub-acl grants public access (public-read)" in text
    assert "BucketPolicy t-pub-policy allows any principal" in text


# ------------------------------------------------------------------------------------------ hosts


def _host(**ssh) -> HostSettings:
    return HostSettings(
        name="node-x",
        public_address="198.51.100.50",
        private_address="10.10.0.50",
        private_interface="eth1",
        roles=["control-plane", "worker"],
        ssh=ssh,
    )


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJC5maFB4dSL2jB38jU8D+BbYozBm3sUE4jZ6zUqfuzS"  # a real key (the model checks its wire format)
KEY = pulumi.Output.secret("-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n-----END OPENSSH PRIVATE KEY-----\n")


def test_host_commands_with_key_and_pinned_host_key_pass():
    report = evaluate(lambda: Host("node-x", HostArgs(_host(host_key=HOST_KEY), KEY)))
    assert of_policy(report, "remote-command-ssh") == []


def test_missing_host_key_fails_in_prod_and_is_allowed_when_configured_off():
    program = lambda: Host("node-x", HostArgs(_host(), KEY))  # noqa: E731
    assert "Command node-x-preflight: connection does not pin hostKey" in messages(
        evaluate(program, stack="prod"), "remote-command-ssh"
    )
    assert of_policy(evaluate(program, stack="dev"), "remote-command-ssh") == []  # the offline check reads environment: dev


def test_jump_host_without_pinned_key_fails():
    report = evaluate(lambda: Host("node-x", HostArgs(_host(host_key=HOST_KEY, jump_host={"host": "203.0.113.5"}), KEY)))
    assert "connection.proxy does not pin hostKey" in messages(report, "remote-command-ssh")


def test_password_authentication_fails():
    report = evaluate(
        lambda: command.remote.Command(
            "pw",
            create="true",
            connection=command.remote.ConnectionArgs(host="198.51.100.9", user="root", password="hunter22", host_key=HOST_KEY),
        )
    )
    text = messages(report, "remote-command-ssh")
    assert "Command pw: connection uses a password" in text and "connection has no privateKey" in text


# ------------------------------------------------------------------------------- object storage users

OVH_PROJECT = "5f0e2b7c9a1d4e3f8b6c0a2d4e6f8a1b"


def _ovh_user(name: str, policy: dict | None):
    import pulumi_ovh as ovh

    provider = ovh.Provider(f"{name}-ovh", endpoint="ovh-eu")
    opts = pulumi.ResourceOptions(provider=provider)
    user = ovh.cloudproject.User(name, service_name=OVH_PROJECT, role_names=["objectstore_operator"], opts=opts)
    ovh.cloudproject.S3Credential(f"{name}-key", service_name=OVH_PROJECT, user_id=user.id, opts=opts)
    if policy is not None:
        ovh.cloudproject.S3Policy(f"{name}-policy", service_name=OVH_PROJECT, user_id=user.id, policy=json.dumps(policy), opts=opts)


def test_the_stores_media_keys_pass():
    from components.backups.media_keys import MediaKeys, MediaKeysArgs, OvhApiKeys
    from components.config.backup import OvhObjectStorage

    report = evaluate(lambda: MediaKeys("media-keys", MediaKeysArgs(
        OvhObjectStorage(service_name=OVH_PROJECT), OvhApiKeys("ak", "as", "ck"), "t-media",
        {"shop-fr": "prod/sites/shop-fr/", "shop-de": "prod/sites/shop-de/"}, "prod")))
    assert of_policy(report, "object-storage-user-scoped") == []


def test_a_key_without_a_policy_or_with_a_bucket_wide_one_fails():
    def program() -> None:
        _ovh_user("bare", None)
        _ovh_user("wide", {"Statement": [
            {"Sid": "RW", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::t-media/*"]},
            {"Sid": "List", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::t-media"]},
            {"Sid": "All", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]},
        ]})

    report = evaluate(program)
    found = {(v.resource_name, v.message.split(": ", 1)[1]) for v in of_policy(report, "object-storage-user-scoped")}
    assert found == {
        ("bare-key", "its user has no S3Policy (OVH then falls back to the buckets' ACLs)"),
        ("wide-policy", "statement RW allows 'arn:aws:s3:::t-media/*': every object of the bucket, not one prefix"),
        ("wide-policy", "statement List lists the bucket 'arn:aws:s3:::t-media' without a StringLike s3:prefix condition naming one prefix"),
        ("wide-policy", "statement All allows every action (s3:*)"),
        ("wide-policy", "statement All allows resource '*' (every bucket of the project)"),
    }
