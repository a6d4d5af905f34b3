"""Host policy: remote commands authenticate with a key, never a password, and pin the server's host key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import config_value, get, is_mapping, schema

REMOTE_TYPES = frozenset({"command:remote:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"})


def connection_findings(connection: Any, require_host_key: bool, label: str = "connection") -> Iterator[str]:
    if not is_mapping(connection):
        yield f"{label} is missing"
        return
    if get(connection, "password"):
        yield f"{label} uses a password; use privateKey (secret config sshPrivateKey)"
    if not get(connection, "privateKey") and not get(connection, "agentSocketPath"):
        yield f"{label} has no privateKey (key authentication)"
    if require_host_key and not get(connection, "hostKey"):
        yield f"{label} does not pin hostKey (set hosts[].ssh.hostKey from ssh-keyscan)"
    proxy = get(connection, "proxy")
    if proxy is not None:
        yield from connection_findings(proxy, require_host_key, f"{label}.proxy")


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in REMOTE_TYPES:
        return
    require = bool(config_value(args.get_config(), "requireHostKey", True))
    for finding in connection_findings(get(args.props, "connection"), require):
        report_violation(f"{args.resource_type.split(':')[-1]} {args.name}: {finding}", None)


POLICIES = [
    ResourceValidationPolicy(
        name="remote-command-ssh",
        description="Remote commands on hosts authenticate with an SSH key (never a password) and pin the host key "
        "(required unless requireHostKey is false, which only a dev stack may set).",
        validate=_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema(
            "remote-command-ssh",
            {"requireHostKey": {"type": "boolean", "default": True, "description": "require connection.hostKey (true in prod)"}},
            exceptions=False,
        ),
        remediation_steps="Build connections with hosts.layer.connection(), from hosts[].ssh in the stack file.",
    )
]
