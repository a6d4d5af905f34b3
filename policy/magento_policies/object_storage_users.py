"""Object storage users: every OVH S3 key the stack creates belongs to a user with an S3 policy, and that policy
reaches one prefix of one bucket, never a whole bucket or the project (components/backups/media_keys.py).

At OVH a user without a policy falls back to the buckets' ACLs, and a policy that allows `s3:*`, a resource
`*` or `arn:aws:s3:::<bucket>/*` hands a store every other store's media (or the database backups). So:

- each `ovh:CloudProject/s3Credential:S3Credential` has an `S3Policy` on the same user (same `userId`, or a
  dependency on the same user resource while the id is unknown in a preview);
- in each `S3Policy` document, an Allow statement names no wildcard action (`*`, `s3:*`), no resource `*`,
  object resources only as `arn:aws:s3:::<bucket>/<prefix>/…*` (a prefix ending with `/` before any `*`), and
  a bucket resource (`arn:aws:s3:::<bucket>`) only for `s3:ListBucket` with a `StringLike` `s3:prefix`
  condition that is itself such a prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from .common import UNKNOWN, get, is_list

CREDENTIAL = "ovh:CloudProject/s3Credential:S3Credential"
S3_POLICY = "ovh:CloudProject/s3Policy:S3Policy"
ARN = "arn:aws:s3:::"


def _as_list(value: Any) -> list[Any]:
    if value is None or value is UNKNOWN:
        return []
    return list(value) if is_list(value) else [value]


def scoped_prefix(pattern: str) -> bool:
    """`<prefix>/…` with the first `*` (if any) after a `/`: one directory of keys, not a whole bucket."""
    head = pattern.split("*", 1)[0]
    return "/" in head and head.rsplit("/", 1)[0] != "" and not head.startswith("/")


def statement_findings(statement: Any) -> Iterator[str]:
    if get(statement, "Effect") != "Allow":
        return
    sid = get(statement, "Sid", default="(no Sid)")
    actions = [str(a) for a in _as_list(get(statement, "Action"))]
    if get(statement, "NotAction") is not None or get(statement, "NotResource") is not None:
        yield f"statement {sid} allows with NotAction/NotResource (everything but a list)"
    for action in actions:
        if action in ("*", "s3:*") or action.endswith(":*"):
            yield f"statement {sid} allows every action ({action})"
    for resource in (str(r) for r in _as_list(get(statement, "Resource"))):
        if resource == "*" or not resource.startswith(ARN):
            yield f"statement {sid} allows resource {resource!r} (every bucket of the project)"
            continue
        path = resource[len(ARN):]
        if "/" in path:
            if not scoped_prefix(path.split("/", 1)[1]):
                yield f"statement {sid} allows {resource!r}: every object of the bucket, not one prefix"
            continue
        # the bucket itself: only a listing limited to a prefix
        prefixes = _as_list(get(statement, "Condition", "StringLike", "s3:prefix"))
        if set(actions) != {"s3:ListBucket"}:
            yield f"statement {sid} allows {', '.join(actions)} on the bucket {resource!r} (only s3:ListBucket with an s3:prefix condition)"
        elif not prefixes or not all(isinstance(p, str) and scoped_prefix(p) for p in prefixes):
            yield f"statement {sid} lists the bucket {resource!r} without a StringLike s3:prefix condition naming one prefix"


def policy_findings(document: Any) -> Iterator[str]:
    if document is UNKNOWN or document is None:
        return  # computed during a preview: nothing to decide yet
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            yield "the policy is not JSON"
            return
    for statement in _as_list(get(document, "Statement")):
        yield from statement_findings(statement)


def _same_user(credential: PolicyResource, policy: PolicyResource) -> bool:
    user = get(credential.props, "userId")
    if isinstance(user, str) and user == get(policy.props, "userId"):
        return True
    owners = set(credential.property_dependencies.get("userId", []))
    return bool(owners) and owners == set(policy.property_dependencies.get("userId", []))


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    policies = [r for r in args.resources if r.resource_type == S3_POLICY]
    for credential in (r for r in args.resources if r.resource_type == CREDENTIAL):
        if not any(_same_user(credential, policy) for policy in policies):
            report_violation(f"S3 key {credential.name}: its user has no S3Policy (OVH then falls back to the buckets' ACLs)",
                             credential.urn)
    for policy in policies:
        for finding in policy_findings(get(policy.props, "policy", default=UNKNOWN)):
            report_violation(f"S3 policy {policy.name}: {finding}", policy.urn)


POLICIES = [
    StackValidationPolicy(
        name="object-storage-user-scoped",
        description="Every OVH S3 key belongs to a user with an S3 policy, and that policy allows one prefix of one bucket "
        "(no wildcard action, no project-wide or bucket-wide resource, listings limited by an s3:prefix condition).",
        validate=_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps="Create store keys through components/backups/media_keys.py, whose media_policy() allows only "
        "arn:aws:s3:::<bucket>/<prefix>* and a ListBucket limited to that prefix.",
    )
]
