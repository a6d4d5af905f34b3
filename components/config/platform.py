"""Configuration of the platform services: GitOps, secrets, observability, policy, reboots, registry,
autoscaling and cluster backups (one model per service; sizes per component)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import ComputeResources, Model, resources_field, sized
from components.config.types import DnsLabel, Quantity

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_DURATION = re.compile(r"^\d+[smh]$")
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_CRON = r"^(\S+\s+){4}\S+$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


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


class GitOps(Model):
    repository: str = Field(
        pattern=r"^(https://|ssh://|git@)[^\s]+$", description="GitOps repository Argo CD reads (https, ssh:// or git@)"
    )
    revision: str = Field("main", pattern=r"^[A-Za-z0-9._/-]{1,100}$", description="branch or tag Argo CD syncs")
    directory: str = Field(
        "gitops",
        pattern=r"^[A-Za-z0-9._/-]{1,200}$",
        description="local checkout of the repository, relative to the project, where gitops sites are rendered",
    )


class ArgoCd(Model):
    server: ComputeResources = resources_field(sized("50m", "128Mi", "500m", "512Mi"), "Argo CD API server")
    repo_server: ComputeResources = resources_field(sized("100m", "256Mi", "1", "1Gi"), "Argo CD repo server")
    controller: ComputeResources = resources_field(sized("250m", "512Mi", "2", "2Gi"), "Argo CD application controller")
    small: ComputeResources = resources_field(
        sized("25m", "64Mi", "250m", "256Mi"), "Argo CD redis, ApplicationSet and notification controllers"
    )


class SecretsStore(Model):
    storage: Quantity = Field("10Gi", description="Raft volume of each OpenBao/Vault server")
    resources: ComputeResources = resources_field(sized("100m", "256Mi", "1", "512Mi"), "each OpenBao/Vault server")
    address: str = Field(
        "https://127.0.0.1:8200",
        pattern=r"^https?://\S+$",
        description="address the program writes site secrets to, over TLS (a port-forward to the store's Service, "
        "or a routed name); the provider verifies the store's certificate under the Service's name whatever the address. "
        "http only while a running store is switched to TLS (docs/runbooks/openbao-unseal.md)",
    )
    ca_cert_file: str = Field(
        "build/secrets-store-ca.crt",
        min_length=1,
        description="file (relative to the project directory) holding the store's CA certificate, which the program "
        "verifies an https address with: `pulumi stack output secretsStoreCaCert > <file>` (docs/runbooks/openbao-unseal.md)",
    )
    external_secrets: ComputeResources = resources_field(
        sized("50m", "128Mi", "500m", "256Mi"), "each External Secrets container (controller, webhook, cert controller)"
    )


class Admission(Model):
    kyverno: ComputeResources = resources_field(sized("100m", "256Mi", "1", "768Mi"), "Kyverno admission controller")
    kyverno_controllers: ComputeResources = resources_field(
        sized("50m", "128Mi", "500m", "512Mi"), "Kyverno background, cleanup and reports controllers"
    )
    runtime_default_mode: Literal["audit", "block"] = Field(
        "audit", description="KubeArmor PHP-FPM policies: audit (log) or block; a site may override (platform.runtimeBlockSites)"
    )
    runtime_block_sites: list[str] = Field(default_factory=list, description="sites whose PHP-FPM runtime policies block")
    kubearmor: ComputeResources = resources_field(sized("50m", "128Mi", "500m", "512Mi"), "KubeArmor operator, controller and relay")


class Reboots(Model):
    start_time: str = Field("02:00", pattern=_HHMM, description="reboot window opens (HH:MM)")
    end_time: str = Field("05:00", pattern=_HHMM, description="reboot window closes (HH:MM)")
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu"], description="days reboots may happen")
    time_zone: str = Field("Etc/UTC", pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", description="time zone of the window")
    period: str = Field("1h0m0s", pattern=r"^(\d+h)?(\d+m)?(\d+s)?$", description="how often kured checks for a pending reboot")
    blocking_alert_filter: str = Field(
        "^(Watchdog|InfoInhibitor|KubeletTooManyPods)$",
        description="regular expression of alert names that do NOT hold reboots (every other firing alert does)",
    )
    resources: ComputeResources = resources_field(sized("10m", "32Mi", "200m", "128Mi"), "kured (one per node)")

    @field_validator("blocking_alert_filter")
    @classmethod
    def _regex(cls, value: str) -> str:
        re.compile(value)
        return value

    @model_validator(mode="after")
    def _window(self) -> Reboots:
        if self.start_time == self.end_time:
            raise ValueError("startTime and endTime are equal: the reboot window would be empty")
        return self


class Registry(Model):
    hostname: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
        description="public name of Harbor (routed by the shared Gateway); unset: Harbor is reachable in-cluster only",
    )
    storage: Quantity = Field("100Gi", description="Harbor registry volume (images and proxy cache)")
    database_storage: Quantity = Field("10Gi", description="Harbor's internal PostgreSQL volume")
    trivy_storage: Quantity = Field("10Gi", description="Trivy vulnerability database volume")
    proxy_cache: list[str] = Field(
        default_factory=lambda: ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"],
        description="upstream registries Harbor caches (one proxy-cache project each)",
    )
    serving: bool = Field(
        False, description="Harbor serves: the hosts' containerd mirrors point at its proxy-cache projects (set after the first up)"
    )
    resources: ComputeResources = resources_field(sized("100m", "256Mi", "1", "1Gi"), "each Harbor component")


class Autoscaling(Model):
    resources: ComputeResources = resources_field(sized("50m", "128Mi", "1", "512Mi"), "KEDA operator, metrics server and webhooks")


class ClusterBackups(Model):
    objects_schedule: str = Field("0 1 * * *", pattern=_CRON, description="cron of the cluster-objects backup (no volumes)")
    volumes_schedule: str = Field("30 2 * * *", pattern=_CRON, description="cron of the volumes backup (CSI snapshots, data mover)")
    objects_retention_days: int = Field(30, ge=1, le=3650, description="days a cluster-objects backup is kept")
    volumes_retention_days: int = Field(14, ge=1, le=3650, description="days a volumes backup is kept")
    resources: ComputeResources = resources_field(sized("100m", "256Mi", "1", "1Gi"), "Velero server")
    node_agent: ComputeResources = resources_field(sized("100m", "256Mi", "2", "2Gi"), "Velero node agent (data mover, one per node)")


class Platform(Model):
    secrets_backend: Literal["openbao", "vault"] = Field("openbao", description="secrets store behind External Secrets")
    observability: Observability = Field(Observability(), description="metrics, logs, traces, dashboards and alerts")
    allowed_registries: list[str] = Field(
        default_factory=lambda: ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"],
        description="registries images may come from (policy pack and Kyverno)",
    )
    gitops: GitOps | None = Field(None, description="the GitOps repository (needed by sites with delivery gitops)")
    argocd: ArgoCd = Field(ArgoCd(), description="Argo CD sizes")
    secrets: SecretsStore = Field(SecretsStore(), description="OpenBao/Vault and External Secrets")
    admission: Admission = Field(Admission(), description="Kyverno and KubeArmor")
    reboots: Reboots = Field(Reboots(), description="kured: when nodes may reboot")
    registry: Registry = Field(Registry(), description="Harbor")
    autoscaling: Autoscaling = Field(Autoscaling(), description="KEDA")
    cluster_backups: ClusterBackups = Field(ClusterBackups(), description="Velero schedules and retention")
