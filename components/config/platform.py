"""Configuration of the platform services (secrets backend, observability, registries)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import ComputeResources, Model, resources_field, sized
from components.config.types import DnsLabel, Quantity

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_DURATION = re.compile(r"^\d+[smh]$")


class EmailReceiver(Model):
    """Alert e-mails through an SMTP relay; the password is the secret setting `alertmanagerSmtpPassword`."""

    to: list[str] = Field(min_length=1, description="addresses the alerts go to")
    sender: str = Field(description="From: address of the alert e-mails")
    smarthost: str = Field(description="SMTP relay as host:port (587 with STARTTLS)")
    auth_username: str | None = Field(None, description="SMTP user (its password: secret setting alertmanagerSmtpPassword)")
    require_tls: bool = Field(True, description="refuse to send without STARTTLS")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, value: str) -> str:
        if not _HOST_PORT.match(value):
            raise ValueError(f"{value!r} is not host:port")
        return value


class WebhookReceiver(Model):
    """An HTTPS webhook (the hosting provider's alerting, a chat bridge, an on-call service)."""

    url: str = Field(pattern=r"^https://[^\s]+$", description="https URL the alerts are POSTed to")
    bearer_token: bool = Field(
        False, description="send `Authorization: Bearer` with the secret setting alertmanagerWebhookToken"
    )
    send_resolved: bool = Field(True, description="also notify when an alert resolves")


class Receiver(Model):
    name: DnsLabel = Field(description="receiver name (routes refer to it)")
    email: EmailReceiver | None = Field(None, description="send by e-mail")
    webhook: WebhookReceiver | None = Field(None, description="send to a webhook")

    @model_validator(mode="after")
    def _one_channel(self) -> Receiver:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("set exactly one of email or webhook")
        return self


class Alerting(Model):
    """Where Alertmanager sends alerts: every alert to `defaultReceiver`, critical ones also to `criticalReceiver`."""

    receivers: list[Receiver] = Field(default_factory=list, description="notification channels")
    default_receiver: str | None = Field(None, description="receiver of every alert (none: alerts are only shown in Alertmanager and Grafana)")
    critical_receiver: str | None = Field(None, description="receiver that also gets severity=critical alerts (paging)")
    group_wait: str = Field("30s", description="wait before the first notification of a group")
    repeat_interval: str = Field("4h", description="resend a firing alert this often")

    @field_validator("group_wait", "repeat_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration like 30s, 5m or 4h")
        return value

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> Alerting:
        names = [r.name for r in self.receivers]
        if len(names) != len(set(names)):
            raise ValueError("receivers: names must be unique")
        for key, value in (("defaultReceiver", self.default_receiver), ("criticalReceiver", self.critical_receiver)):
            if value is not None and value not in names:
                raise ValueError(f"{key}: {value!r} is not one of the receivers ({', '.join(names) or 'none'})")
        if self.critical_receiver and not self.default_receiver:
            raise ValueError("criticalReceiver needs a defaultReceiver")
        return self


class ObservabilityResources(Model):
    prometheus: ComputeResources = resources_field(sized("500m", "2Gi", "2", "4Gi"), "Prometheus server")
    alertmanager: ComputeResources = resources_field(sized("50m", "128Mi", "200m", "256Mi"), "Alertmanager")
    operator: ComputeResources = resources_field(sized("100m", "128Mi", "500m", "256Mi"), "Prometheus Operator")
    config_reloader: ComputeResources = resources_field(sized("10m", "32Mi", "100m", "64Mi"), "config reloader sidecars")
    kube_state_metrics: ComputeResources = resources_field(sized("50m", "128Mi", "200m", "256Mi"), "kube-state-metrics")
    node_exporter: ComputeResources = resources_field(sized("50m", "64Mi", "250m", "128Mi"), "node exporter (per node)")
    grafana: ComputeResources = resources_field(sized("100m", "256Mi", "500m", "512Mi"), "Grafana")
    loki: ComputeResources = resources_field(sized("250m", "512Mi", "1", "2Gi"), "Loki (single binary)")
    tempo: ComputeResources = resources_field(sized("250m", "512Mi", "1", "2Gi"), "Tempo (monolithic)")
    alloy: ComputeResources = resources_field(sized("100m", "256Mi", "500m", "512Mi"), "Alloy (per node)")


class Observability(Model):
    retention_days: int = Field(15, ge=1, le=3650, description="days metrics are kept (Prometheus)")
    log_retention_days: int = Field(14, ge=1, le=3650, description="days logs are kept (Loki compactor)")
    trace_retention_days: int = Field(7, ge=1, le=3650, description="days traces are kept (Tempo compactor)")
    prometheus_storage: Quantity = Field("50Gi", description="Prometheus volume size (per replica)")
    alertmanager_storage: Quantity = Field("2Gi", description="Alertmanager volume (silences, notification log)")
    loki_storage: Quantity = Field(
        "50Gi", description="Loki volume: write-ahead log and index cache with a bucket; every log without one"
    )
    tempo_storage: Quantity = Field("20Gi", description="Tempo volume: write-ahead log with a bucket; every trace without one")
    grafana_storage: Quantity = Field("2Gi", description="Grafana volume (its SQLite database: users, annotations)")
    service_monitors: bool = Field(
        True,
        description="scrape the cluster components through ServiceMonitors and PodMonitors (the Prometheus "
        "Operator CRDs are installed before any layer that creates them)",
    )
    alerting: Alerting = Field(Alerting(), description="Alertmanager receivers and routes")
    resources: ObservabilityResources = Field(ObservabilityResources(), description="requests and limits per component")


class Platform(Model):
    secrets_backend: Literal["openbao", "vault"] = Field("openbao", description="secrets store behind External Secrets")
    observability: Observability = Field(Observability(), description="metrics, logs, traces, dashboards and alerts")
    allowed_registries: list[str] = Field(
        default_factory=lambda: ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"],
        description="registries images may come from (policy pack and Kyverno)",
    )
