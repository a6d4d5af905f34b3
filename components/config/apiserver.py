"""Configuration of the API server's hardening: Secret encryption at rest and the audit log.

Both are files on every control plane (hosts/apiserver.py renders them, stage 45 installs them)
that the kube-apiserver static pod reads through kubeadm's extraArgs and extraVolumes.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from components.config.base import Model


class SecretsEncryption(Model):
    """An EncryptionConfiguration (apiserver.config.k8s.io/v1): every listed key is a 32-byte random
    key (pulumi-random, a secret); the first encrypts, all decrypt, `identity` reads what was stored
    before encryption was turned on. Rotation: docs/runbooks/certificate-credential-rotation.md."""

    provider: Literal["secretbox", "aescbc"] = Field(
        "secretbox",
        description="secretbox (XSalsa20-Poly1305, authenticated; kubespray's default) or aescbc (CBC, open to padding "
        "oracle attacks: Kubernetes docs call it weak; only for compliance lists that require AES)",
    )
    keys: list[str] = Field(
        ["key1"],
        min_length=1,
        max_length=4,
        description="names of the encryption keys (one 32-byte random key each): the first encrypts, all decrypt; to rotate, "
        "append a new name, then move it first, rewrite every Secret, drop the old one (docs/runbooks/certificate-credential-rotation.md)",
    )
    resources: list[Literal["secrets", "configmaps"]] = Field(
        ["secrets"],
        min_length=1,
        description="resources encrypted at rest; configmaps only if they hold credentials (env.php settings are "
        "Secrets here, so the default is secrets alone)",
    )

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9-]{0,30}$", name):
                raise ValueError(f"{name!r} is not a key name (lower-case letters, digits and '-', at most 31)")
        if len(set(value)) != len(value):
            raise ValueError("key names must be unique")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("resources must be unique")
        return value


class AuditLog(Model):
    """The API audit log on each control plane's root disk (/var/log/kubernetes/audit), rotated by the
    API server itself: at most (maxBackups + 1) x maxSizeMib on disk, rotated files gzip-compressed."""

    max_age_days: int = Field(30, ge=1, le=366, description="days a rotated audit log file is kept (--audit-log-maxage)")
    max_backups: int = Field(10, ge=1, le=100, description="rotated audit log files kept (--audit-log-maxbackup)")
    max_size_mib: int = Field(100, ge=10, le=1024, description="size in MiB at which the audit log rotates (--audit-log-maxsize)")
