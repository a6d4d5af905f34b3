"""Configuration of the Kubernetes cluster: mode, version, networks, API endpoint and host baseline."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from components import versions
from components.config.apiserver import AuditLog, SecretsEncryption
from components.config.base import Model
from components.config.hosts import Firewall, HostOs, KubeletReservations, RegistryMirror
from components.config.types import Cidr, IpAddress, Quantity


class ExistingCluster(Model):
    """An already running cluster (for example a laptop cluster in dev)."""

    context: str | None = Field(None, description="kubeconfig context; the secret `kubeconfig` or ~/.kube/config")
    failure_domains: int = Field(1, ge=1, le=16, description="independent failure domains the existing cluster spans")
    kubelet_serving_certificates: Literal["signed", "self-signed"] = Field(
        "signed",
        description="whether the cluster's kubelets serve certificates signed by its CA (metrics-server verifies them) "
        "or self-signed ones (kind, k3d: metrics-server then skips verification; refused in prod)",
    )
    node_cpu: Quantity | None = Field(None, description="allocatable CPU of each node (kubectl describe node); the plan's capacity model")
    node_memory: Quantity | None = Field(None, description="allocatable memory of each node; the plan's capacity model")


class ApiVip(Model):
    """A virtual address on the vRack that keepalived (VRRP, unicast between the control planes) keeps
    on a control plane whose API server answers: the API endpoint of an HA cluster (docs/adr/0002)."""

    address: IpAddress = Field(description="the VIP, a free address in cluster.privateNetwork; cluster.controlPlaneEndpoint is <address>:6443")
    virtual_router_id: int = Field(51, ge=1, le=255, description="VRRP virtual router id, unique on the vRack")


class ApiAccess(Model):
    """How `pulumi up` reaches the API: the server written into the kubeconfig the program keeps."""

    server: str | None = Field(
        None,
        description="host:port the Kubernetes provider dials (a control plane's public address, the VIP over a VPN, "
        "or a tunnel such as 127.0.0.1:16443); added to the API certificate; unset: cluster.controlPlaneEndpoint",
    )
    rotation: int = Field(
        0, ge=0, description="bump to read the admin kubeconfig again (its client certificate expires a year after init or the last upgrade)"
    )

    @field_validator("server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9.-]+:\d{2,5}$", value):
            raise ValueError("must be host:port, for example 198.51.100.11:6443")
        return value


class Cluster(Model):
    mode: Literal["kubeadm", "existing"] = Field("kubeadm", description="kubeadm: build the cluster on the hosts; existing: use a running cluster")
    kubernetes_version: str = Field(versions.KUBERNETES_DEFAULT, description="full Kubernetes version, within the supported minors")
    control_plane_endpoint: str | None = Field(None, description="host:port of the API server: the apiVip in HA clusters, else the first control plane")
    api_vip: ApiVip | None = Field(None, description="keepalived VIP on the vRack for the API (required with highAvailability)")
    api_access: ApiAccess = Field(default_factory=lambda: ApiAccess(), description="the address `pulumi up` reaches the API on")
    pod_cidr: Cidr = Field("10.244.0.0/16", description="pod network")
    service_cidr: Cidr = Field("10.96.0.0/12", description="Service network")
    private_network: Cidr | None = Field(None, description="the vRack subnet all private addresses belong to")
    admin_networks: list[Cidr] = Field(default_factory=list, description="networks allowed to reach SSH and the API")
    high_availability: bool = Field(False, description="run quorum members in 3 failure domains (needs 3 control planes)")
    existing: ExistingCluster | None = Field(None, description="settings for cluster.mode existing")
    upgrade_from: str | None = Field(
        None,
        description="during a minor upgrade, the Kubernetes version the cluster runs now (skipping a minor is rejected)",
    )
    host_os: HostOs = Field(default_factory=lambda: HostOs(), description="host OS baseline of every server")
    firewall: Firewall = Field(default_factory=lambda: Firewall(), description="host firewall (nftables) of every server")
    registry_mirrors: list[RegistryMirror] = Field(
        default_factory=list, description="containerd registry mirrors (certs.d), e.g. the Harbor proxy cache"
    )
    kubelet: KubeletReservations = Field(
        default_factory=lambda: KubeletReservations(), description="kubelet reservations, eviction and pod limit"
    )
    secrets_encryption: SecretsEncryption = Field(
        default_factory=lambda: SecretsEncryption(), description="encryption at rest of Secrets in etcd (EncryptionConfiguration)"
    )
    audit_log: AuditLog = Field(default_factory=lambda: AuditLog(), description="the API audit log and its rotation")

    @field_validator("upgrade_from")
    @classmethod
    def _upgrade_from(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^v?\d+\.\d+\.\d+$", value):
            raise ValueError("must be a full Kubernetes version such as 1.35.9")
        return value.lstrip("v") if value else value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)$", value)
        if not match:
            raise ValueError("must be a full Kubernetes version such as 1.36.4")
        minor = f"{match.group(1)}.{match.group(2)}"
        if minor not in versions.KUBERNETES_MINORS:
            raise ValueError(f"{minor} is outside the supported matrix ({', '.join(versions.KUBERNETES_MINORS)})")
        return value.lstrip("v")

    @field_validator("control_plane_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9.-]+:\d{2,5}$", value):
            raise ValueError("must be host:port, for example 10.10.0.10:6443")
        return value

    @property
    def api_server(self) -> str | None:
        """host:port the Kubernetes provider dials."""
        return self.api_access.server or self.control_plane_endpoint

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])
