"""Object storage policy: every bucket is versioned, encrypted, expires old versions and blocks public access.

pulumi-aws models a bucket's settings as separate resources (`components/backups.py`), so this is a
stack policy that relates each setting to its bucket by the bucket name or by dependency (the name is
unknown during a preview of a bucket not yet created; the dependency is not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from .common import UNKNOWN, get, is_list, walk

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
S3 = "aws:s3/"
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
NO_BLOCK_TAG = "public-access-block"  # components/backups/buckets.py NO_PUBLIC_ACCESS_BLOCK_TAG
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


def _kind(resource: PolicyResource) -> str:
    """`bucketVersioning` for aws:s3/bucketVersioningV2:BucketVersioningV2 and aws:s3/bucketVersioning:BucketVersioning."""
    module = resource.resource_type.split(":")[1].split("/")[-1] if ":" in resource.resource_type else ""
    return module[:-2] if module.endswith("V2") else module


def settings_of(bucket: PolicyResource, resources: list[PolicyResource]) -> dict[str, list[PolicyResource]]:
    """The bucket's setting resources by kind, related by name or by dependency on the bucket."""
    name = get(bucket.props, "bucket")
    found: dict[str, list[PolicyResource]] = {}
    for resource in resources:
        if not resource.resource_type.startswith(S3) or resource.resource_type in BUCKET_TYPES:
            continue
        target = get(resource.props, "bucket")
        depends = bucket in resource.dependencies or bucket in resource.property_dependencies.get("bucket", [])
        if depends or (isinstance(name, str) and target == name):
            found.setdefault(_kind(resource), []).append(resource)
    return found


def _enabled_rules(resource: PolicyResource) -> list:
    rules = get(resource.props, "rules", default=[])
    return [r for r in (rules if is_list(rules) else []) if get(r, "status") == "Enabled"]


def bucket_findings(bucket: PolicyResource, resources: list[PolicyResource]) -> Iterator[str]:
    settings = settings_of(bucket, resources)
    if get(bucket.props, "acl") in PUBLIC_ACLS:
        yield f"has a public canned ACL {get(bucket.props, 'acl')!r}"
    inline_versioning = get(bucket.props, "versioning", "enabled") is True
    if not inline_versioning and not any(
        get(v.props, "versioningConfiguration", "status") in ("Enabled", UNKNOWN) for v in settings.get("bucketVersioning", [])
    ):
        yield "has no BucketVersioning with status Enabled"
    inline_sse = get(
        bucket.props, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault", "sseAlgorithm"
    )
    if not inline_sse and not any(
        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        for s in settings.get("bucketServerSideEncryptionConfiguration", [])
        for rule in (get(s.props, "rules", default=[]) or [])
    ):
        yield "has no server-side encryption configuration (applyServerSideEncryptionByDefault)"
    inline_rules = get(bucket.props, "lifecycleRules", default=[])
    inline_lifecycle = any(get(r, "enabled") is True for r in (inline_rules if is_list(inline_rules) else []))
    if not inline_lifecycle and not any(_enabled_rules(lc) for lc in settings.get("bucketLifecycleConfiguration", [])):
        yield "has no lifecycle configuration with an Enabled rule"
    blocks = settings.get("bucketPublicAccessBlock", [])
    # An endpoint without the PutPublicAccessBlock API (backup.publicAccessBlock: false): a private canned ACL
    # and the tag saying so stand in for the block (ACL grants and bucket policies are still checked below).
    no_block_api = get(bucket.props, "tags", NO_BLOCK_TAG) == "unsupported-by-endpoint"
    if no_block_api and get(bucket.props, "acl") != "private":
        yield "has no public access block (endpoint without the API) and no private canned ACL"
    elif not no_block_api and not any(all(get(b.props, flag) in (True, UNKNOWN) for flag in PUBLIC_ACCESS_FLAGS) for b in blocks):
        yield "does not block public access (BucketPublicAccessBlock with all four flags true)"
    for acl in settings.get("bucketAcl", []):
        if get(acl.props, "acl") in PUBLIC_ACLS:
            yield f"BucketAcl {acl.name} grants public access ({get(acl.props, 'acl')})"
        for path, value in walk(get(acl.props, "accessControlPolicy", default={})):
            if value in PUBLIC_GRANTEES:
                yield f"BucketAcl {acl.name} grants {value} ({path})"
    for policy in settings.get("bucketPolicy", []):
        if allows_anyone(get(policy.props, "policy")):
            yield f"BucketPolicy {policy.name} allows any principal"


def allows_anyone(document: Any) -> bool:
    """Whether a bucket policy document (JSON text or object) has an Allow statement for the principal '*'."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    statements = get(document, "Statement", default=[])
    for statement in statements if is_list(statements) else [statements]:
        if get(statement, "Effect") != "Allow":
            continue
        principal = get(statement, "Principal")
        principals = [principal] if isinstance(principal, str) else [v for _, v in walk(principal)]
        if "*" in principals:
            return True
    return False


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for bucket in args.resources:
        if bucket.resource_type not in BUCKET_TYPES:
            continue
        name = get(bucket.props, "bucket", default=bucket.name)
        for finding in bucket_findings(bucket, args.resources):
            report_violation(f"bucket {name}: {finding}", bucket.urn)


POLICIES = [
    StackValidationPolicy(
        name="bucket-protected",
        description="Every bucket is versioned, encrypted at rest, has an enabled lifecycle rule and blocks public access "
        "(no public ACL or any-principal bucket policy).",
        validate=_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps="Create buckets through components/backups.py, which adds versioning, encryption, lifecycle "
        "and a public access block to each.",
    )
]
