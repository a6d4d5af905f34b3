"""Configuration of the platform services: GitOps, secrets, observability, policy, reboots, registry,
autoscaling and cluster backups (one model per service; sizes per component)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import ComputeResources, Model, resources_field, sized
from components.config.types import Quantity

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_CRON = r"^(\S+\s+){4}\S+$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Observability(Model):
    retention_days: int = Field(15, ge=1, le=3650, description="days metrics and logs are kept")
    prometheus_storage: Quantity = Field("50Gi", description="Prometheus volume size")
    loki_storage: Quantity = Field("50Gi", description="Loki volume size")
    service_monitors: bool = Field(
        False,
        description="create ServiceMonitors for the cluster components (needs the Prometheus Operator CRDs: "
        "turn on once kube-prometheus-stack is installed)",
    )


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
        "http://127.0.0.1:8200",
        pattern=r"^https?://\S+$",
        description="address the program writes site secrets to (a port-forward to the store's Service, or a routed name)",
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
    observability: Observability = Field(Observability(), description="metrics and logs")
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
