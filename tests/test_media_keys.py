"""Per-store media keys (`backup.mediaCredentials: ovh`): one OVH S3 user, key and policy per store, the policy
reaching only the store's prefix of the media bucket, and the keys reaching only that store's pods.

The policy is checked three ways: as the JSON the program renders for each store (parsed), against moto's S3
server with IAM enforcement (a key limited by that document really cannot read, write or delete another
store's objects), and, where moto cannot enforce (it ignores `StringLike` conditions, so it cannot show the
ListBucket prefix limit), by evaluating the document's statements with the AWS rules for that grammar.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from components.backups.media_keys import media_policy
from components.backups.streams import media_prefix
from offline.engine import Recording, run_program
from offline.references import pod_template
from offline.stackfile import settings_from_values
from tests.layer_helpers import problems, stack_values
from tests.sites_support import sites_program
from tests.test_sites_workloads import env_php, objects, one

STORES = ("shop-fr", "shop-de")
MEDIA_BUCKET = "magento-prod-media"


def rendered_policy(rec: Recording, store: str) -> dict[str, Any]:
    return json.loads(rec.named(f"media-{store}-policy", "ovh:CloudProject/s3Policy:S3Policy").inputs["policy"])


# ------------------------------------------------------------------------ the policy document's semantics


def allowed(policy: dict[str, Any], action: str, resource: str, prefix: str | None = None) -> bool:
    """AWS evaluation of an identity policy for one request: an explicit Deny wins, then an explicit Allow;
    `*` in Action and Resource is a wildcard; `StringLike` on `s3:prefix` matches the listing's prefix (a
    request without one does not match). Anything else in a Condition refuses (never a silent allow)."""

    def matches(patterns: list[str] | str, value: str) -> bool:
        return any(fnmatch.fnmatchcase(value, p) for p in ([patterns] if isinstance(patterns, str) else patterns))

    def condition_holds(condition: dict[str, Any]) -> bool:
        for operator, keys in condition.items():
            assert operator == "StringLike" and set(keys) == {"s3:prefix"}, f"unexpected condition {condition}"
            if prefix is None or not matches(keys["s3:prefix"], prefix):
                return False
        return True

    decision = False
    for statement in policy["Statement"]:
        if not (matches(statement["Action"], action) and matches(statement["Resource"], resource)):
            continue
        if not condition_holds(statement.get("Condition", {})):
            continue
        if statement["Effect"] == "Deny":
            return False
        decision = True
    return decision


def fpm_container(deployment: dict[str, Any]) -> dict[str, Any]:
    """The php-fpm container of a store's PHP-FPM Deployment (beside it runs the exporter sidecar)."""
    (container,) = [c for c in pod_template(deployment)["spec"]["containers"] if c["name"] == "php-fpm"]
    return container


def test_each_stores_policy_reaches_only_its_own_prefix(prod: Recording):
    for store in STORES:
        policy = rendered_policy(prod, store)
        own = media_prefix("prod", store)
        assert own == f"prod/sites/{store}/"
        other = media_prefix("prod", next(s for s in STORES if s != store))
        resources = {r for statement in policy["Statement"] if statement["Effect"] == "Allow" for r in statement["Resource"]}
        assert resources == {f"arn:aws:s3:::{MEDIA_BUCKET}/{own}*", f"arn:aws:s3:::{MEDIA_BUCKET}"}
        obj = lambda key, bucket=MEDIA_BUCKET: f"arn:aws:s3:::{bucket}/{key}"  # noqa: E731
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert allowed(policy, action, obj(f"{own}catalog/product/a.jpg"))
            assert not allowed(policy, action, obj(f"{other}catalog/product/a.jpg"))
            assert not allowed(policy, action, obj(f"prod/sites/{store}2/a.jpg"))  # a store named like a prefix of another
            assert not allowed(policy, action, obj("prod/full/cluster-full/xtrabackup.stream", "magento-prod-mysql"))
        bucket = f"arn:aws:s3:::{MEDIA_BUCKET}"
        assert allowed(policy, "s3:ListBucket", bucket, prefix=own)
        assert allowed(policy, "s3:ListBucket", bucket, prefix=f"{own}catalog/")
        assert not allowed(policy, "s3:ListBucket", bucket, prefix=other)
        assert not allowed(policy, "s3:ListBucket", bucket, prefix="")
        assert not allowed(policy, "s3:ListBucket", bucket)  # a listing of the whole bucket
        assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::magento-prod-mysql", prefix=own)
        assert not allowed(policy, "s3:ListAllMyBuckets", "*")
        assert not allowed(policy, "s3:DeleteBucket", bucket) and not allowed(policy, "s3:PutBucketPolicy", bucket)


def test_a_prefix_without_its_slash_is_refused():
    with pytest.raises(ValueError, match="must end with '/'"):
        media_policy(MEDIA_BUCKET, "prod/sites/shop")


# ------------------------------------------------------------------------------ moto, IAM enforced


@pytest.fixture
def iam_enforcing_s3(monkeypatch: pytest.MonkeyPatch):
    """moto's server on a loopback port; requests are authorised against IAM once `enforce()` is called."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "admin-setup")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "admin-setup")
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    def client(service: str, key: str = "admin-setup", secret: str = "admin-setup"):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret)

    def enforce(on: bool = True) -> None:
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0 if on else float("inf"))
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)

    try:
        yield client, enforce
    finally:
        server.stop()


def test_moto_refuses_a_stores_key_outside_its_prefix(prod: Recording, iam_enforcing_s3):
    client, enforce = iam_enforcing_s3
    admin_s3, iam = client("s3"), client("iam")
    for bucket in (MEDIA_BUCKET, "magento-prod-mysql"):
        admin_s3.create_bucket(Bucket=bucket)
    fr, de = media_prefix("prod", "shop-fr"), media_prefix("prod", "shop-de")
    admin_s3.put_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/secret.jpg", Body=b"de")
    admin_s3.put_object(Bucket="magento-prod-mysql", Key="prod/full/x-full/xtrabackup.stream", Body=b"db")
    iam.create_user(UserName="media-shop-fr")
    # The document exactly as the program hands it to OVH for shop-fr.
    iam.put_user_policy(UserName="media-shop-fr", PolicyName="media",
                        PolicyDocument=prod.named("media-shop-fr-policy", "ovh:CloudProject/s3Policy:S3Policy").inputs["policy"])
    key = iam.create_access_key(UserName="media-shop-fr")["AccessKey"]
    # A control: a user whose policy covers the whole bucket (what OVH's own example grants) reads shop-de's media,
    # so the refusals below come from the store's prefix, not from moto refusing everything.
    iam.create_user(UserName="bucket-wide")
    wide = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                                "Resource": [f"arn:aws:s3:::{MEDIA_BUCKET}/*"]}]})
    iam.put_user_policy(UserName="bucket-wide", PolicyName="wide", PolicyDocument=wide)
    wide_key = iam.create_access_key(UserName="bucket-wide")["AccessKey"]
    enforce()
    control = client("s3", wide_key["AccessKeyId"], wide_key["SecretAccessKey"])
    assert control.get_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/secret.jpg")["Body"].read() == b"de"
    shop = client("s3", key["AccessKeyId"], key["SecretAccessKey"])

    shop.put_object(Bucket=MEDIA_BUCKET, Key=f"{fr}catalog/a.jpg", Body=b"fr")
    assert shop.get_object(Bucket=MEDIA_BUCKET, Key=f"{fr}catalog/a.jpg")["Body"].read() == b"fr"
    shop.delete_object(Bucket=MEDIA_BUCKET, Key=f"{fr}catalog/a.jpg")

    refused = [
        lambda: shop.get_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/secret.jpg"),
        lambda: shop.put_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/planted.jpg", Body=b"x"),
        lambda: shop.delete_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/secret.jpg"),
        lambda: shop.put_object(Bucket=MEDIA_BUCKET, Key="prod/sites/shop-fr2/a.jpg", Body=b"x"),
        lambda: shop.get_object(Bucket="magento-prod-mysql", Key="prod/full/x-full/xtrabackup.stream"),
        lambda: shop.list_buckets(),
        lambda: shop.delete_bucket(Bucket=MEDIA_BUCKET),
    ]
    for call in refused:
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == "AccessDenied"
    # shop-de's object is untouched (the refused delete really did nothing).
    enforce(False)
    assert admin_s3.get_object(Bucket=MEDIA_BUCKET, Key=f"{de}catalog/secret.jpg")["Body"].read() == b"de"


# -------------------------------------------------------------------------- the keys reach the store


def credential(rec: Recording, store: str) -> tuple[str, str]:
    state = rec.named(f"media-{store}-key", "ovh:CloudProject/s3Credential:S3Credential").outputs
    return state["accessKeyId"], state["secretAccessKey"]


def test_each_store_gets_its_own_generated_key_in_env_php(prod: Recording):
    seen = set()
    for store in STORES:
        storage = env_php(prod, store)["remote_storage"]
        assert storage["driver"] == "aws-s3" and storage["prefix"] == media_prefix("prod", store)
        assert storage["config"]["bucket"] == MEDIA_BUCKET
        access_key, secret_key = credential(prod, store)
        assert storage["config"]["credentials"] == {"key": access_key, "secret": secret_key}
        seen.add(access_key)
        # The key and the policy belong to the same user, the store's own.
        user = prod.named(f"media-{store}", "ovh:CloudProject/user:User")
        assert user.inputs["roleNames"] == ["objectstore_operator"]
        key_user = prod.named(f"media-{store}-key", "ovh:CloudProject/s3Credential:S3Credential").inputs["userId"]
        assert prod.named(f"media-{store}-policy", "ovh:CloudProject/s3Policy:S3Policy").inputs["userId"] == key_user
        assert user.urn in prod.named(f"media-{store}-policy", "ovh:CloudProject/s3Policy:S3Policy").dependencies
        # No pod falls back to a hand-made Secret.
        for obj in objects(prod, f"site-{store}"):
            template = pod_template(obj)
            for container in (template or {}).get("spec", {}).get("containers", []):
                refs = [e for e in container.get("env", []) if "valueFrom" in e]
                assert all(e["valueFrom"].get("secretKeyRef", {}).get("name") != "media-credentials" for e in refs)
    assert len(seen) == 2
    platform_key = prod.named("object-storage", "pulumi:providers:aws").inputs["accessKey"]
    assert platform_key not in seen


def test_the_keys_are_secret_and_the_ovh_provider_explicit(prod: Recording):
    provider = prod.named("ovh", "pulumi:providers:ovh")
    assert provider.inputs["endpoint"] == "ovh-eu"
    assert {"applicationKey", "applicationSecret", "consumerKey"} <= set(provider.secret_paths)
    for store in STORES:
        for kind, name in (("ovh:CloudProject/user:User", f"media-{store}"), ("ovh:CloudProject/s3Credential:S3Credential", f"media-{store}-key"),
                           ("ovh:CloudProject/s3Policy:S3Policy", f"media-{store}-policy")):
            record = prod.named(name, kind)
            assert record.provider and record.provider.split("::")[-2] == "ovh"
            assert record.inputs["serviceName"] == "5f0e2b7c9a1d4e3f8b6c0a2d4e6f8a1b"
    tenancy = prod.stack_outputs["siteTenancy"]
    assert tenancy["secret"] is True
    assert tenancy["value"]["shop-fr"]["media"]["prefix"] == "prod/sites/shop-fr/"


@functools.cache
def gitops_sites() -> Recording:
    values = stack_values("prod")
    values["sites"][1]["delivery"] = "gitops"
    values["platform"]["gitops"] = {"repository": "https://git.example.com/platform/gitops.git"}
    return run_program(settings_from_values(values, stack="prod"), program=sites_program)


def test_a_gitops_store_reads_its_generated_keys_from_external_secrets_never_from_git():
    rec = gitops_sites()
    storage = env_php(rec, "shop-de")["remote_storage"]
    assert "credentials" not in storage["config"] and storage["prefix"] == "shop-de/"
    container = fpm_container(one(rec, "site-shop-de", "Deployment", "php-fpm"))
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    # Generated keys always exist (External Secrets makes media-credentials from sites/shop-de/media): not optional.
    assert keys == {"AWS_ACCESS_KEY_ID": {"name": "media-credentials", "key": "access_key_id", "optional": False},
                    "AWS_SECRET_ACCESS_KEY": {"name": "media-credentials", "key": "secret_access_key", "optional": False}}
    assert "credentials" in env_php(rec, "shop-fr")["remote_storage"]["config"]  # the direct store keeps them in env.php


# ----------------------------------------------------------------------------- manual, and the checks


def backups_only(values: dict[str, Any]) -> Recording:
    """Only the backup target of a stack (the buckets and, with ovh, the stores' users), under mocks."""

    def program() -> None:
        from components.backups import Backups, BackupsArgs
        from components.backups.media_keys import OvhApiKeys, stores_with_media
        from components.config.loader import load_from_pulumi

        config, secrets = load_from_pulumi()
        assert config.backup is not None and secrets.backup_access_key_id is not None
        api = OvhApiKeys(secrets.ovh_application_key, secrets.ovh_application_secret, secrets.ovh_consumer_key) \
            if secrets.ovh_application_key is not None else None
        backups = Backups("backups", BackupsArgs(config.backup, secrets.backup_access_key_id, secrets.backup_secret_access_key,
                                                 config.environment, False, tuple(stores_with_media(config.sites)), api))
        for site in config.sites:
            assert backups.media_target(site.name) is None or config.backup.media_credentials == "ovh"

    return run_program(settings_from_values(values, stack="prod"), program=program)


def test_manual_creates_no_ovh_user_and_keeps_the_hand_made_secret():
    values = stack_values("prod")
    values["backup"]["mediaCredentials"] = "manual"
    del values["backup"]["ovh"]
    rec = backups_only(values)
    assert not [r for r in rec.resources if r.type.startswith(("ovh:", "pulumi:providers:ovh"))]
    assert {r.name for r in rec.resources if r.type == "aws:s3/bucket:Bucket"} >= {"media-bucket"}
    # The pods of a store without generated keys read the Secret made by hand, optionally (as before).
    rec2 = run_program(settings_from_values(stack_values("prod"), stack="prod"), program=functools.partial(sites_program, media_keys=False))
    container = fpm_container(one(rec2, "site-shop-fr", "Deployment", "php-fpm"))
    assert {e["valueFrom"]["secretKeyRef"]["optional"] for e in container["env"] if "valueFrom" in e} == {True}


def test_dev_has_no_ovh_provider(dev: Recording):
    assert not [r for r in dev.resources if r.type.startswith(("ovh:", "pulumi:providers:ovh"))]


def test_config_checks_name_the_key():
    values = stack_values("prod")
    del values["backup"]["ovh"]
    assert "required when backup.mediaCredentials is 'ovh'" in problems(values)["backup.ovh"]
    values = stack_values("prod")
    values["backup"]["endpoint"] = "https://s3.eu-central-1.wasabisys.com"
    assert "is not OVH Object Storage" in problems(values)["backup.mediaCredentials"]
    values = stack_values("prod")
    values["backup"]["mediaCredentials"] = "manual"
    assert "only read when backup.mediaCredentials is 'ovh'" in problems(values)["backup.ovh"]
    values = stack_values("prod")
    values["backup"]["ovh"]["serviceName"] = "my-project"
    assert "backup.ovh.serviceName" in problems(values)
    values["backup"]["mediaCredentials"] = "aws"
    assert "backup.mediaCredentials" in problems(values)
