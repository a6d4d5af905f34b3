"""The stack configuration: one pydantic model tree for everything a stack file holds.

One module per section of the stack file (`hosts.py`, `cluster.py`, `networking.py`, ...); this module
holds the root, `StackConfig`, and re-exports every section's models so callers import from one place.
Checks that involve one value live beside the field as validators; checks across fields live in
`checks.py` so that each problem can name its own key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.backup import Backup, BackupBuckets
from components.config.base import ComputeResources, Model
from components.config.capacity import Capacity, SiteGrowth
from components.config.cluster import ApiAccess, ApiVip, Cluster, ExistingCluster
from components.config.data import DataService, DataServices
from components.config.edge import Acme, Edge
from components.config.hosts import (
    Firewall,
    Host,
    HostOs,
    JumpHost,
    KubeletReservations,
    RegistryMirror,
    Role,
    SshConnection,
    Zfs,
    ZfsDisk,
)
from components.config.networking import AddressPool, Networking
from components.config.platform import Observability, Platform
from components.config.site_tiers import ConsumerGroup, Cron, Egress, Media, Release, StoreView, Tiers
from components.config.sites import RateLimit, Site, SiteEdge, SiteImage, SiteQuota, SiteWaf
from components.config.storage import Storage

__all__ = [
    "Acme", "AddressPool", "ApiAccess", "ApiVip", "Backup", "BackupBuckets", "Capacity", "Cluster", "ComputeResources", "ConsumerGroup",
    "Cron", "DataService", "DataServices", "Edge", "Egress", "ExistingCluster", "Firewall", "Host", "HostOs",
    "JumpHost", "KubeletReservations", "Media", "Model", "Networking", "Observability", "Platform", "RateLimit",
    "RegistryMirror", "Release", "Role", "Site", "SiteEdge", "SiteGrowth", "SiteImage", "SiteQuota", "SiteWaf",
    "SshConnection", "StackConfig", "Storage", "StoreView", "Tiers", "Zfs", "ZfsDisk",
]


class StackConfig(Model):
    environment: Literal["dev", "prod"] = Field(description="dev or prod")
    protect_stateful: bool = Field(True, description="protect stateful resources from deletion")
    hosts: list[Host] = Field(default_factory=list, description="the servers (cluster.mode kubeadm)")
    cluster: Cluster = Field(Cluster(), description="Kubernetes cluster")
    networking: Networking = Field(description="cluster networking and LoadBalancer pools")
    storage: Storage = Field(Storage(), description="StorageClasses on LocalPV-ZFS")
    edge: Edge = Field(description="the shared Gateway, TLS and client IPs")
    platform: Platform = Field(Platform(), description="platform services")
    data: DataServices = Field(DataServices(), description="sizes of the shared data services")
    backup: Backup | None = Field(None, description="S3-compatible backup target (required in prod)")
    sites: list[Site] = Field(default_factory=list, description="the Magento stores")
    capacity: Capacity = Field(Capacity(), description="the plan's capacity and storage model: growth per store, warning threshold")

    @property
    def failure_domains(self) -> int:
        if self.cluster.mode == "existing":
            return self.cluster.existing.failure_domains if self.cluster.existing else 1
        return len({host.domain for host in self.hosts})

    @property
    def control_planes(self) -> list[Host]:
        return [h for h in self.hosts if "control-plane" in h.roles]

    def replicas_for(self, service: DataService) -> int:
        """Replicas of a quorum service: explicit, else 3 when three failure domains exist, else 1."""
        if service.replicas is not None:
            return service.replicas
        return 3 if self.failure_domains >= 3 else 1
