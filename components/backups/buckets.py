"""The backup target: one S3-compatible bucket per purpose at the hosting provider, through pulumi-aws.

The AWS provider is pointed at the configured endpoint (OVH Object Storage or any S3-compatible service)
with path-style addressing and the AWS-only account checks switched off.

Each bucket is versioned, encrypted at rest, private, and has a lifecycle rule from the retention settings
(`streams.lifecycle`). Two details of the provider matter against an endpoint that is not AWS:

- The separate `BucketLifecycleConfiguration` resource waits after every write until the endpoint echoes
  the `x-amz-transition-default-minimum-object-size` header, which only AWS sends (terraform-provider-aws
  `waitLifecycleConfigEquals`, which compares the value read back with the `all_storage_classes_128K` it
  defaults to): against OVH, Ceph or MinIO it times out after 3 minutes on every `up`. So versioning and
  the lifecycle rules are set on the bucket resource itself, which puts the bucket's versioning before its
  lifecycle in one update and has no such wait. (The provider warns that these inline blocks are
  deprecated; they are kept for this reason.)
- `PutPublicAccessBlock` does not exist on every S3-compatible endpoint: `backup.publicAccessBlock: false`
  leaves the resource out (the buckets stay private: private canned ACL, no bucket policy).

The platform's key serves the platform's consumers only; each store's media key is its own
(`backup.mediaCredentials: ovh`, media_keys.py; `media_target()`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.backups.media_keys import MediaKeys, MediaKeysArgs, OvhApiKeys
from components.backups.streams import PURPOSES, Purpose, lifecycle, media_prefix
from components.config.model import Backup as BackupSettings

NO_PUBLIC_ACCESS_BLOCK_TAG = "public-access-block"
PURPOSE_DESCRIPTIONS: dict[Purpose, str] = {
    "velero": "cluster backups",
    "mysql": "database backups",
    "opensearch": "search snapshots",
    "telemetry": "logs and traces",
    "media": "site media",
}


@dataclass(frozen=True)
class BucketTarget:
    """Where one consumer writes: the bucket, the prefix in it, the endpoint and the credentials it uses."""

    bucket: str
    endpoint: str
    region: str
    access_key_id: pulumi.Output[str]  # secret
    secret_access_key: pulumi.Output[str]  # secret
    prefix: str = ""


@dataclass(frozen=True)
class BackupsArgs:
    settings: BackupSettings
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    environment: str
    protect: bool
    media_stores: tuple[str, ...] = ()  # stores with media in the media bucket (backend s3)
    ovh: OvhApiKeys | None = None  # with backup.mediaCredentials ovh: the OVH API keys that create their S3 users


class PurposeBucket(pulumi.ComponentResource):
    """One bucket and its settings (encryption, public access block), versioned with a lifecycle rule."""

    def __init__(self, purpose: Purpose, settings: BackupSettings, *, environment: str, protect: bool,
                 provider: aws.Provider, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:backups:Bucket", purpose, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        name = getattr(settings.buckets, purpose)
        self.bucket = aws.s3.Bucket(
            f"{purpose}-bucket",
            bucket=name,
            acl="private",
            force_destroy=False,
            versioning=aws.s3.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                aws.s3.BucketLifecycleRuleArgs(
                    id=rule.id,
                    enabled=True,
                    prefix=rule.prefix,
                    expiration=aws.s3.BucketLifecycleRuleExpirationArgs(days=rule.expire_days) if rule.expire_days else None,
                    noncurrent_version_expiration=aws.s3.BucketLifecycleRuleNoncurrentVersionExpirationArgs(days=rule.noncurrent_days),
                    abort_incomplete_multipart_upload_days=rule.multipart_days,
                )
                for rule in lifecycle(purpose, settings, environment)
            ],
            tags={"managed-by": "pulumi", "environment": environment, "purpose": purpose,
                  # the policy pack accepts a private bucket without a public access block only with this tag
                  **({} if settings.public_access_block else {NO_PUBLIC_ACCESS_BLOCK_TAG: "unsupported-by-endpoint"})},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect)),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{purpose}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256",
                    ),
                )
            ],
            opts=child,
        )
        if settings.public_access_block:
            aws.s3.BucketPublicAccessBlock(
                f"{purpose}-public-access-block",
                bucket=self.bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
        self.register_outputs({"bucket": self.bucket.bucket})


class Backups(pulumi.ComponentResource):
    """One bucket per purpose: cluster backups, database backups, search snapshots, logs and traces, media."""

    buckets: dict[str, aws.s3.Bucket]

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:backups:Backups", name, None, opts)
        settings = args.settings
        self.provider = aws.Provider(
            "object-storage",
            region=settings.region,
            access_key=args.access_key_id,
            secret_key=args.secret_access_key,
            endpoints=[aws.ProviderEndpointArgs(s3=settings.endpoint)],
            s3_use_path_style=True,
            skip_credentials_validation=True,
            skip_region_validation=True,
            skip_requesting_account_id=True,
            skip_metadata_api_check=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.buckets = {}
        for purpose in PURPOSES:
            holder = PurposeBucket(purpose, settings, environment=args.environment, protect=args.protect,
                                   provider=self.provider, opts=pulumi.ResourceOptions(parent=self))
            self.buckets[purpose] = holder.bucket
        self._settings = settings
        self.environment = args.environment
        # One key pair for every platform consumer (PXC, OpenSearch, Velero, Loki, Tempo); never a store's. With
        # `mediaCredentials: ovh`, each store gets a key of its own limited to its media prefix (media_keys.py),
        # created through OVH's API, which the S3 API (and so pulumi-aws) cannot reach.
        self._credentials = (pulumi.Output.secret(args.access_key_id), pulumi.Output.secret(args.secret_access_key))
        self.media_keys: MediaKeys | None = None
        if settings.media_credentials == "ovh" and args.media_stores:
            if settings.ovh is None or args.ovh is None:  # the config check and the secret check name what is missing
                raise ValueError("backup.mediaCredentials ovh needs backup.ovh and the ovh* secret settings")
            self.media_keys = MediaKeys(
                "media-keys",
                MediaKeysArgs(settings.ovh, args.ovh, settings.buckets.media,
                              {store: media_prefix(args.environment, store) for store in args.media_stores}, args.environment),
                pulumi.ResourceOptions(parent=self, depends_on=[self.buckets["media"]]),
            )
        self.register_outputs({"buckets": {k: b.bucket for k, b in self.buckets.items()},
                               "mediaKeyStores": sorted(self.media_keys.keys) if self.media_keys else []})

    def target(self, purpose: str, prefix: str = "") -> BucketTarget:
        """The bucket of a purpose (`velero`, `mysql`, `opensearch`, `telemetry`, `media`) and the credentials
        its consumer uses; `prefix` is where in the bucket the consumer writes (components/backups/streams.py)."""
        if purpose not in PURPOSES:
            raise KeyError(f"no bucket for {purpose!r}: one of {', '.join(PURPOSES)}")
        key_id, secret = self._credentials
        return BucketTarget(
            bucket=getattr(self._settings.buckets, purpose),
            endpoint=self._settings.endpoint,
            region=self._settings.region,
            access_key_id=key_id,
            secret_access_key=secret,
            prefix=prefix,
        )

    def media_target(self, store: str) -> BucketTarget | None:
        """The store's prefix of the media bucket with the store's own key (None without one: `mediaCredentials:
        manual`, or a store whose media are not in the bucket). The platform's key is never a store's."""
        if self.media_keys is None or store not in self.media_keys.keys:
            return None
        key = self.media_keys.keys[store]
        return BucketTarget(
            bucket=self._settings.buckets.media,
            endpoint=self._settings.endpoint.rstrip("/"),
            region=self._settings.region,
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
            prefix=media_prefix(self.environment, store),
        )
