"""Reading and validating the stack configuration.

`load_from_pulumi()` reads the `magento:*` keys of the running stack (the CLI under `pulumi up`, or the
offline plan and the tests through `pulumi.runtime.set_all_config`) and returns a validated
`StackConfig` plus the secret settings as `Output`s. Every problem becomes a `Problem` naming its key;
`ConfigError` carries them all, and nothing is registered before this succeeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from components.config.checks import Problem, run_checks
from components.config.model import StackConfig
from components.config.site_files import site_files

PROJECT = "magento"

# Settings that hold structured YAML in the stack files (read with require_object); the rest are scalars
# declared with type and description in Pulumi.yaml.
STRUCTURED = ("hosts", "cluster", "networking", "storage", "edge", "platform", "data", "backup", "sites", "capacity")
SCALARS = ("environment", "protectStateful")

# Secret settings: set with `pulumi config set --secret <key>`; never declared with a default, never printed.
SECRET_SETTINGS: dict[str, str] = {
    "sshPrivateKey": "private key (OpenSSH PEM) the hosts layer logs in with; required when cluster.mode is kubeadm",
    "kubeconfig": "kubeconfig of an existing cluster (cluster.mode: existing); without it ~/.kube/config is used",
    "acmeDnsApiToken": "DNS provider API token for ACME DNS-01; required when edge.acme.solver is dns01",
    "backupAccessKeyId": "access key id of the S3-compatible backup target; required when backup is set",
    "backupSecretAccessKey": "secret access key of the S3-compatible backup target; required when backup is set",
    "ovhApplicationKey": "OVH API application key the ovh provider creates the stores' S3 users with; required when "
    "backup.mediaCredentials is ovh (docs/runbooks/media-credentials.md)",
    "ovhApplicationSecret": "OVH API application secret of ovhApplicationKey; required when backup.mediaCredentials is ovh",
    "ovhConsumerKey": "OVH API consumer key (rights on /cloud/project/<serviceName>/user*); required when backup.mediaCredentials is ovh",
    "secretsStoreToken": "OpenBao/Vault token (policy magento-writer) the program writes generated site secrets with; "
    "unset until the store is initialised (docs/runbooks/openbao-unseal.md): then no secret is written",
    "alertmanagerSmtpPassword": "SMTP password of the alert e-mails; required when an e-mail receiver has authUsername",
    "alertmanagerWebhookToken": "bearer token of the alert webhooks; required when a webhook receiver has bearerToken",
}

OVH_SECRETS = ("ovhApplicationKey", "ovhApplicationSecret", "ovhConsumerKey")


class ConfigError(Exception):
    """The stack configuration is invalid; `problems` holds one entry per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Secrets:
    """Secret settings as Pulumi secret outputs (None where not set)."""

    ssh_private_key: pulumi.Output[str] | None = None
    kubeconfig: pulumi.Output[str] | None = None
    acme_dns_api_token: pulumi.Output[str] | None = None
    backup_access_key_id: pulumi.Output[str] | None = None
    backup_secret_access_key: pulumi.Output[str] | None = None
    ovh_application_key: pulumi.Output[str] | None = None  # the OVH API keys (backup.mediaCredentials: ovh)
    ovh_application_secret: pulumi.Output[str] | None = None
    ovh_consumer_key: pulumi.Output[str] | None = None
    secrets_store_token: pulumi.Output[str] | None = None  # OpenBao/Vault token the program writes site secrets with
    alertmanager_smtp_password: pulumi.Output[str] | None = None
    alertmanager_webhook_token: pulumi.Output[str] | None = None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "literal[", "union[")) or part in ("str", "int", "list", "dict", "bool"):
            continue  # pydantic's internal tags for validators and unions carry no meaning for a user
        else:
            out += f".{part}" if out else part
    return out


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "not a known setting (see docs/configuration.md)"
    if kind == "missing":
        return "required setting is missing"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def problems_from(exc: ValidationError) -> list[Problem]:
    return [Problem(_path(tuple(err["loc"])), _message(err)) for err in exc.errors()]


def validate(raw: dict[str, Any], *, cross_field: bool = True) -> StackConfig:
    """Validate raw stack settings (camelCase keys as in the stack file) or raise ConfigError.

    Cross-field checks run only on a structurally valid configuration (and not when the caller already
    found settings it could not read, which would make them report consequences, not causes).
    """
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc)) from None
    problems = run_checks(config) if cross_field else []
    if problems:
        raise ConfigError(problems)
    return config


def _present_keys() -> set[str]:
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :] for key in keys if key.startswith(prefix)}


def _secret_problems(config: StackConfig, present: set[str]) -> list[Problem]:
    problems = []
    if config.cluster.mode == "kubeadm" and "sshPrivateKey" not in present:
        problems.append(Problem("sshPrivateKey", "required when cluster.mode is kubeadm: pulumi config set --secret sshPrivateKey < key"))
    if config.backup is not None:
        for key in ("backupAccessKeyId", "backupSecretAccessKey"):
            if key not in present:
                problems.append(Problem(key, f"required when backup is set: pulumi config set --secret {key} ..."))
    if config.backup is not None and config.backup.media_credentials == "ovh":
        for key in OVH_SECRETS:
            if key not in present:
                problems.append(Problem(key, f"required when backup.mediaCredentials is ovh: pulumi config set --secret {key} ..."))
    if config.edge.acme.solver == "dns01" and "acmeDnsApiToken" not in present:
        problems.append(Problem("acmeDnsApiToken", "required when edge.acme.solver is dns01: pulumi config set --secret acmeDnsApiToken ..."))
    receivers = config.platform.observability.alerting.receivers
    if any(r.email and r.email.auth_username for r in receivers) and "alertmanagerSmtpPassword" not in present:
        problems.append(Problem("alertmanagerSmtpPassword", "required when an e-mail receiver has authUsername: "
                                "pulumi config set --secret alertmanagerSmtpPassword ..."))
    if any(r.webhook and r.webhook.bearer_token for r in receivers) and "alertmanagerWebhookToken" not in present:
        problems.append(Problem("alertmanagerWebhookToken", "required when a webhook receiver has bearerToken: "
                                "pulumi config set --secret alertmanagerWebhookToken ..."))
    return problems


def load_from_pulumi() -> tuple[StackConfig, Secrets]:
    """Read, parse and validate this stack's `magento:*` settings; raise ConfigError on any problem."""
    cfg = pulumi.Config(PROJECT)
    present = _present_keys()
    problems: list[Problem] = []
    raw: dict[str, Any] = {}
    for key in sorted(present):
        if key in SECRET_SETTINGS:
            continue
        if key not in STRUCTURED and key not in SCALARS:
            problems.append(Problem(key, "not a known setting (see docs/configuration.md)"))
            continue
        value = cfg.get(key)
        if key in STRUCTURED:
            try:
                raw[key] = json.loads(value) if value is not None else None
            except json.JSONDecodeError:
                problems.append(Problem(key, "must be a YAML object or list in the stack file, not a plain string"))
        else:
            raw[key] = value
    # Stores onboarded as files (sites/stores/<environment>/<name>.yaml) join the stack's own list.
    raw["sites"] = list(raw.get("sites") or []) + site_files(raw.get("environment"))
    try:
        config = validate(raw, cross_field=not problems)
    except ConfigError as error:
        unreadable = {p.path for p in problems}
        raise ConfigError(problems + [p for p in error.problems if p.path.split(".")[0].split("[")[0] not in unreadable]) from None
    if problems:
        raise ConfigError(problems)
    missing = _secret_problems(config, present)
    if missing:
        raise ConfigError(missing)
    secrets = Secrets(
        ssh_private_key=cfg.get_secret("sshPrivateKey"),
        kubeconfig=cfg.get_secret("kubeconfig"),
        acme_dns_api_token=cfg.get_secret("acmeDnsApiToken"),
        backup_access_key_id=cfg.get_secret("backupAccessKeyId"),
        backup_secret_access_key=cfg.get_secret("backupSecretAccessKey"),
        ovh_application_key=cfg.get_secret("ovhApplicationKey"),
        ovh_application_secret=cfg.get_secret("ovhApplicationSecret"),
        ovh_consumer_key=cfg.get_secret("ovhConsumerKey"),
        secrets_store_token=cfg.get_secret("secretsStoreToken"),
        alertmanager_smtp_password=cfg.get_secret("alertmanagerSmtpPassword"),
        alertmanager_webhook_token=cfg.get_secret("alertmanagerWebhookToken"),
    )
    return config, secrets
