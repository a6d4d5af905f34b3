"""Secrets hygiene: no plaintext secrets in ConfigMaps or env values, secret values never exposed, and no Secret
registered with a provider that writes it to disk (`renderYamlToDirectory`: a gitops site's provider)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import UNKNOWN, excepted, get, is_list, is_mapping, object_ref, schema, walk
from .workloads import workload_of

SECRET_KEY = re.compile(r"(pass(word|wd)?|secret|token|api[-_.]?key|private[-_.]?key|credential|access[-_.]?key)", re.I)
REFERENCE_SUFFIX = re.compile(
    r"[-_.]?(file|path|url|uri|name|ref|endpoint|host|enabled|length|ttl|expiry|expiration|lifetime)$", re.I
)
PRIVATE_KEY_TEXT = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# A value made only of PEM certificates is public by definition (a CA's certificate beside its key in a TLS
# Secret, then handed to clients in a ConfigMap); any other text in it, a private key above all, keeps it secret.
CERTIFICATES_ONLY = re.compile(r"\A\s*(?:-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+\Z")


def secret_looking(key: str) -> bool:
    return bool(SECRET_KEY.search(key)) and not REFERENCE_SUFFIX.search(key)


def _plaintext_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == "kubernetes:core/v1:ConfigMap":
        for field in ("data", "binaryData"):
            data = get(args.props, field, default={})
            for key in data if is_mapping(data) else []:
                value = get(data, key)
                if secret_looking(str(key)):
                    yield f"ConfigMap key '{key}' looks like a secret; put it in a Secret"
                elif isinstance(value, str) and PRIVATE_KEY_TEXT.search(value):
                    yield f"ConfigMap key '{key}' holds a private key; put it in a Secret"
        return
    workload = workload_of(args)
    if workload is None:
        return
    for container in workload.containers():
        env = get(container.spec, "env", default=[])
        for index in range(len(env) if is_list(env) else 0):
            name, value = get(env, index, "name", default=""), get(env, index, "value")
            if secret_looking(str(name)) and value not in (None, "", UNKNOWN):
                yield f"{container.label} sets env {name} as a plain value; use valueFrom.secretKeyRef"


def _plaintext_policy() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != "kubernetes:core/v1:ConfigMap" and workload_of(args) is None:
            return
        ref = object_ref(args.props, args.urn)
        if not ref.own or excepted(ref, args.get_config(), "no-plaintext-secrets") is not None:
            return
        for finding in _plaintext_findings(args):
            report_violation(f"{ref}: {finding}", None)

    return ResourceValidationPolicy(
        name="no-plaintext-secrets",
        description="Our ConfigMaps hold no secret-looking keys or private keys, and our containers take secret-looking "
        "environment variables from Secrets (valueFrom), never as plain values.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema("no-plaintext-secrets"),
        remediation_steps="Create a Kubernetes Secret from a secret Output (secret config, RandomPassword, External Secrets) "
        "and reference it with env[].valueFrom.secretKeyRef or a volume.",
    )


WEAK_SECRET_VALUES = frozenset(
    {
        "changeme",
        "change-me",
        "password",
        "passw0rd",
        "admin",
        "secret",
        "default",
        "example",
        "test",
        "root",
        "magento",
        "letmein",
        "placeholder",
        "123456",
        "12345678",
        "qwerty",
        "todo",
    }
)
MIN_SECRET_LENGTH = 8


def _decode(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def secret_values(resource: PolicyResource) -> Iterator[tuple[str, str]]:
    """(where, value) of every secret value a resource holds: Kubernetes Secret data, SSH credentials."""
    if resource.resource_type == "kubernetes:core/v1:Secret":
        for key, value in walk(get(resource.props, "stringData", default={}), "stringData"):
            if isinstance(value, str) and not CERTIFICATES_ONLY.match(value):
                yield key, value
        for key, value in walk(get(resource.props, "data", default={}), "data"):
            decoded = _decode(value) if isinstance(value, str) else None
            if decoded is not None and not CERTIFICATES_ONLY.match(decoded):
                yield key, decoded
    elif resource.resource_type.startswith("command:remote:"):
        for prefix in (("connection",), ("connection", "proxy")):
            for field in ("privateKey", "password", "privateKeyPassword"):
                value = get(resource.props, *prefix, field)
                if isinstance(value, str) and value:
                    yield ".".join((*prefix, field)), value


# Resources whose values are secret by type (the SDK marks them secret whatever their source).
# pulumi-vault's kv.SecretV2 marks `data`/`dataJson` secret whatever is passed (pulumi_vault/kv/secret_v2.py:
# `pulumi.Output.secret(data_json)`, additional_secret_outputs ["data", "dataJson", "dataJsonWo"]).
SECRET_HOLDERS = frozenset(
    {"kubernetes:core/v1:Secret", "random:index/randomPassword:RandomPassword", "vault:kv/secretV2:SecretV2"}
)
# Providers and charts take secrets as inputs and keep them secret in state; the stack and our components
# carry secret outputs (the kubeconfig) whose secretness the analyzer cannot see.
NOT_PLAIN_PREFIXES = ("pulumi:providers:", "pulumi:pulumi:", "kubernetes:helm.sh/", "magento:")


def plain_fields(resource: PolicyResource) -> Iterator[tuple[str, Any]]:
    """The fields of a resource that are stored and shown in plain text (where a secret must never appear)."""
    kind = resource.resource_type
    if kind in SECRET_HOLDERS or kind.startswith(NOT_PLAIN_PREFIXES):
        return
    if kind.startswith("command:remote:"):
        for field in ("create", "update", "delete", "triggers", "remotePath"):
            yield from walk(get(resource.props, field), field)
        return
    yield from walk(resource.props)


class SecretIndex:
    """Secrets (each at least MIN_SECRET_LENGTH long) by their last MIN_SECRET_LENGTH characters, so that the
    secrets a text contains are found in one pass over the text rather than one substring search per secret
    and text (which grew with the square of the number of stores: every store adds secrets and plain fields).
    Each distinct text is searched once: a fifth of the plain texts of a stack are distinct (the same labels,
    probes and configuration in every store and chart object)."""

    def __init__(self, secrets: Iterable[str]):
        self.order: dict[str, int] = {}
        self.by_tail: dict[str, list[str]] = {}
        for secret in secrets:
            self.order.setdefault(secret, len(self.order))
            self.by_tail.setdefault(secret[-MIN_SECRET_LENGTH:], []).append(secret)
        self.searched: dict[str, tuple[str, ...]] = {}

    def contained_in(self, text: str) -> tuple[str, ...]:
        """Every secret that occurs in `text`, in the order the secrets were given."""
        if text in self.searched:
            return self.searched[text]
        found: set[str] = set()
        by_tail, width = self.by_tail, MIN_SECRET_LENGTH
        for end in range(width, len(text) + 1):
            candidates = by_tail.get(text[end - width:end])
            if candidates:
                found.update(s for s in candidates if len(s) <= end and text.startswith(s, end - len(s)))
        self.searched[text] = tuple(sorted(found, key=self.order.__getitem__))
        return self.searched[text]


def _secret_exposure_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        secrets: dict[str, tuple[PolicyResource, str]] = {}
        for resource in args.resources:
            for where, value in secret_values(resource):
                if value.strip().lower() in WEAK_SECRET_VALUES:
                    report_violation(
                        f"{resource.resource_type} {resource.name}: {where} is a well-known weak value", resource.urn
                    )
                elif len(value) >= MIN_SECRET_LENGTH:
                    secrets.setdefault(value, (resource, where))
        if not secrets:
            return
        index = SecretIndex(secrets)
        for resource in args.resources:
            for path, value in plain_fields(resource):
                if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                    continue
                for secret in index.contained_in(value):
                    owner, where = secrets[secret]
                    if owner is not resource:
                        report_violation(
                            f"{resource.resource_type} {resource.name}: plain field {path} contains the secret "
                            f"{where} of {owner.resource_type} {owner.name}",
                            resource.urn,
                        )

    return StackValidationPolicy(
        name="secret-values-not-exposed",
        description="Secret values (Kubernetes Secret data, SSH credentials) are not well-known weak values and never appear "
        "in plain fields of another resource (ConfigMaps, env values, annotations, command text).",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps="Pass secrets as secret Outputs into Secrets (or a command's stdin), and reference them; never "
        "interpolate them into plain fields.",
    )


RENDER_DIRECTORY = "renderYamlToDirectory"


def _rendered_secret_policy() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != "kubernetes:core/v1:Secret" or args.provider is None:
            return
        directory = get(args.provider.props, RENDER_DIRECTORY)
        if isinstance(directory, str) and directory:
            report_violation(f"{object_ref(args.props, args.urn)}: its provider {args.provider.name} renders to {directory}: "
                             "the Secret's data would be written there in plain text (and into git)", None)

    return ResourceValidationPolicy(
        name="secret-not-rendered",
        description="No Kubernetes Secret is registered with a provider that has renderYamlToDirectory (a gitops site's "
        "provider writes every object it is given to a file, Secrets in plain text).",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        remediation_steps="For a gitops site, register an ExternalSecret reading the secrets store instead "
        "(sites/gitops.py store_secret), or apply the Secret with the cluster provider.",
    )


POLICIES = [_plaintext_policy(), _secret_exposure_policy(), _rendered_secret_policy()]
