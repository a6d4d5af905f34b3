"""Alertmanager's configuration: routes to the receivers in config (e-mail, webhooks), written as a Secret.

The configuration is built here as plain data (`alertmanager_config`) so that the test runs the exact text
through `amtool check-config`; the program renders it with the SMTP password and webhook token (secret
settings) into the Secret the operator mounts, never into chart values or logs.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kube
from components.config.platform import Alerting, Receiver
from components.platform.observability.common import ALERTMANAGER_CONFIG_SECRET, NAMESPACE

NULL_RECEIVER = "null"  # alerts nobody is paged for (Watchdog, InfoInhibitor, or no receiver configured)


def _receiver(receiver: Receiver, smtp_password: str | None, webhook_token: str | None) -> dict[str, Any]:
    if receiver.email is not None:
        email = receiver.email
        config: dict[str, Any] = {
            "to": ", ".join(email.to),
            "from": email.sender,
            "smarthost": email.smarthost,
            "require_tls": email.require_tls,
            "send_resolved": True,
        }
        if email.auth_username:
            config.update(auth_username=email.auth_username, auth_password=smtp_password or "")
        return {"name": receiver.name, "email_configs": [config]}
    assert receiver.webhook is not None
    hook: dict[str, Any] = {"url": receiver.webhook.url, "send_resolved": receiver.webhook.send_resolved}
    if receiver.webhook.bearer_token:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": webhook_token or ""}}
    return {"name": receiver.name, "webhook_configs": [hook]}


def alertmanager_config(alerting: Alerting, smtp_password: str | None = None, webhook_token: str | None = None) -> dict[str, Any]:
    """The whole alertmanager.yaml: every alert to the default receiver, critical ones to the critical one too."""
    default = alerting.default_receiver or NULL_RECEIVER
    routes: list[dict[str, Any]] = [
        # The always-firing Watchdog proves the pipeline works (dead-man's switch); InfoInhibitor only inhibits.
        {"matchers": ['alertname = "Watchdog"'], "receiver": NULL_RECEIVER},
        {"matchers": ['alertname = "InfoInhibitor"'], "receiver": NULL_RECEIVER},
    ]
    if alerting.critical_receiver:
        routes.append({"matchers": ['severity = "critical"'], "receiver": alerting.critical_receiver, "continue": True})
    routes.append({"matchers": ['severity =~ ".*"'], "receiver": default})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["namespace", "alertname"],
            "group_wait": alerting.group_wait,
            "group_interval": "5m",
            "repeat_interval": alerting.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {"source_matchers": ['severity = "critical"'], "target_matchers": ['severity =~ "warning|info"'],
             "equal": ["namespace", "alertname"]},
            {"source_matchers": ['severity = "warning"'], "target_matchers": ['severity = "info"'],
             "equal": ["namespace", "alertname"]},
            {"source_matchers": ['alertname = "InfoInhibitor"'], "target_matchers": ['severity = "info"'],
             "equal": ["namespace"]},
        ],
        "receivers": [{"name": NULL_RECEIVER}] + [_receiver(r, smtp_password, webhook_token) for r in alerting.receivers],
    }


def render(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def config_secret(
    alerting: Alerting,
    smtp_password: pulumi.Input[str] | None,
    webhook_token: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """The Secret `alertmanager-kps-alertmanager` (the operator's `useExistingSecret` name), as a secret Output."""
    text = pulumi.Output.all(smtp_password, webhook_token).apply(lambda s: render(alertmanager_config(alerting, s[0], s[1])))
    return k8s.core.v1.Secret(
        "alertmanager-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=ALERTMANAGER_CONFIG_SECRET, namespace=NAMESPACE, labels=kube.labels("monitoring")),
        type="Opaque",
        string_data={"alertmanager.yaml": pulumi.Output.secret(text)},
        opts=opts,
    )
