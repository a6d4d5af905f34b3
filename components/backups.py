"""The backup target: S3-compatible buckets at the hosting provider, through pulumi-aws.

The AWS provider is pointed at the configured endpoint (OVH Object Storage or any S3-compatible
service) with path-style addressing and the AWS-only account checks switched off. Every bucket is
versioned, encrypted at rest, blocked from public access and expires old versions on a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config.model import Backup as BackupSettings


@dataclass(frozen=True)
class BucketTarget:
    """Where one consumer writes its backups: the bucket, the endpoint and the credentials it uses."""

    bucket: str
    endpoint: str
    region: str
    access_key_id: pulumi.Output[str]  # secret
    secret_access_key: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class BackupsArgs:
    settings: BackupSettings
    access_key_id: pulumi.Input[str]
    secret_access_key: pulumi.Input[str]
    environment: str
    protect: bool


class Backups(pulumi.ComponentResource):
    """One bucket per backup stream (velero, mysql, opensearch, media)."""

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
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.buckets = {}
        for stream, bucket_name in settings.buckets.model_dump().items():
            bucket = aws.s3.Bucket(
                f"{stream}-bucket",
                bucket=bucket_name,
                force_destroy=False,
                tags={"managed-by": "pulumi", "environment": args.environment, "stream": stream},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
            )
            aws.s3.BucketVersioning(
                f"{stream}-versioning",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child,
            )
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{stream}-encryption",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256",
                        ),
                    )
                ],
                opts=child,
            )
            aws.s3.BucketPublicAccessBlock(
                f"{stream}-public-access-block",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
            aws.s3.BucketLifecycleConfiguration(
                f"{stream}-lifecycle",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-noncurrent-versions",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=settings.noncurrent_version_days,
                        ),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=7,
                        ),
                    )
                ],
                opts=child,
            )
            self.buckets[stream] = bucket
        self._settings = settings
        self._credentials = (pulumi.Output.secret(args.access_key_id), pulumi.Output.secret(args.secret_access_key))
        self.register_outputs({"buckets": {k: b.bucket for k, b in self.buckets.items()}})

    def target(self, stream: str) -> BucketTarget:
        """The bucket of a backup stream (`velero`, `mysql`, ...) and the credentials its consumer uses."""
        key_id, secret = self._credentials
        return BucketTarget(
            bucket=getattr(self._settings.buckets, stream),
            endpoint=self._settings.endpoint,
            region=self._settings.region,
            access_key_id=key_id,
            secret_access_key=secret,
        )
