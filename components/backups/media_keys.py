"""Per-store media keys at OVH (`backup.mediaCredentials: ovh`): one S3 user per store that reaches only the
store's prefix of the media bucket (`streams.media_prefix`, `<env>/sites/<site>/`).

What OVH offers (pulumi-ovh 2.22.0, `pulumi_ovh/cloudproject/{user,s3_credential,s3_policy}.py`): a Public
Cloud user (`ovh:CloudProject/user:User`, role `objectstore_operator`, which OVH requires of a user that holds
S3 credentials), an S3 access key of that user (`ovh:CloudProject/s3Credential:S3Credential`, the secret key
marked secret by the provider) and the user's S3 policy (`ovh:CloudProject/s3Policy:S3Policy`, one JSON
document in the AWS grammar). OVH's guide (github.com/ovh/docs, pages/storage_and_backup/object_storage/
s3_identity_and_access_management/guide.en-gb.md) evaluates a user policy first (explicit Deny, then explicit
Allow) and falls back to the bucket's ACL when no statement matches; the buckets are private and owned by the
platform's user (components/backups/buckets.py), so a store's user gets nothing the policy does not allow.

The policy (`media_policy`): object reads, writes and deletes (and the multipart and object-ACL calls that
Magento's AwsS3 driver makes: it writes with `ACL: private`) on `arn:aws:s3:::<bucket>/<prefix>*` only;
ListBucket on the bucket only for keys under the prefix (`StringLike s3:prefix`); listing every bucket of the
project (allowed by default at OVH) denied. The prefix ends with `/`, so store `shop` never reaches `shop2/`.
Condition keys other than `aws:SourceIp` are not among OVH's examples: docs/runbooks/media-credentials.md
has the drill that proves the listing limit on the real endpoint.

The keys are secret Outputs that resolve only once the policy is set (a key in use before its policy would
fall back to ACLs). The user's OpenStack password (a provider output) stays in this stack's state: it is
never handed to a store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_ovh as ovh

from components.config.backup import OvhObjectStorage

OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutObjectAcl",  # Magento's AwsS3 driver writes with the canned ACL `private`
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
USER_ROLE = "objectstore_operator"


def media_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """The S3 user policy of one store: its prefix of the media bucket and nothing else."""
    if not prefix.endswith("/"):
        raise ValueError(f"media prefix {prefix!r} must end with '/' (or one store's prefix would cover another's)")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "StoreMediaObjects", "Effect": "Allow", "Action": list(OBJECT_ACTIONS),
             "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
            {"Sid": "StoreMediaListing", "Effect": "Allow", "Action": ["s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}"], "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
            {"Sid": "NoBucketListing", "Effect": "Deny", "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]},
        ],
    }


@dataclass(frozen=True)
class OvhApiKeys:
    """The secret settings ovhApplicationKey, ovhApplicationSecret and ovhConsumerKey."""

    application_key: pulumi.Input[str]
    application_secret: pulumi.Input[str]
    consumer_key: pulumi.Input[str]


@dataclass(frozen=True)
class StoreKey:
    access_key_id: pulumi.Output[str]  # secret
    secret_access_key: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class MediaKeysArgs:
    project: OvhObjectStorage
    api: OvhApiKeys
    bucket: str
    prefixes: dict[str, str]  # store -> its prefix in the bucket
    environment: str


class MediaKeys(pulumi.ComponentResource):
    """One OVH S3 user, key and policy per store, through an explicit ovh provider."""

    keys: dict[str, StoreKey]

    def __init__(self, name: str, args: MediaKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:backups:MediaKeys", name, None, opts)
        self.provider = ovh.Provider(
            "ovh",
            endpoint=args.project.api_endpoint,
            application_key=pulumi.Output.secret(args.api.application_key),
            application_secret=pulumi.Output.secret(args.api.application_secret),
            consumer_key=pulumi.Output.secret(args.api.consumer_key),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        service = args.project.service_name
        self.keys = {}
        self.policies: dict[str, ovh.cloudproject.S3Policy] = {}
        for store, prefix in args.prefixes.items():
            user = ovh.cloudproject.User(
                f"media-{store}",
                service_name=service,
                description=f"magento {args.environment} media of store {store} (s3://{args.bucket}/{prefix})",
                role_names=[USER_ROLE],
                opts=child,
            )
            credential = ovh.cloudproject.S3Credential(f"media-{store}-key", service_name=service, user_id=user.id, opts=child)
            policy = ovh.cloudproject.S3Policy(
                f"media-{store}-policy", service_name=service, user_id=user.id,
                policy=json.dumps(media_policy(args.bucket, prefix), sort_keys=True), opts=child,
            )
            self.policies[store] = policy
            self.keys[store] = StoreKey(_after(credential.access_key_id, policy), _after(credential.secret_access_key, policy))
        self.register_outputs({"stores": sorted(self.keys)})


def _after(value: pulumi.Output[str], policy: ovh.cloudproject.S3Policy) -> pulumi.Output[str]:
    """The key as a secret Output that resolves once the store's policy is set."""
    return pulumi.Output.secret(pulumi.Output.all(value, policy.id).apply(lambda values: str(values[0])))


def stores_with_media(sites: Sequence[Any]) -> list[str]:
    """The stores whose media live in the media bucket (backend s3)."""
    return [site.name for site in sites if site.media.backend == "s3"]
