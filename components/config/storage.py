"""Configuration of the StorageClasses on LocalPV-ZFS."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import ComputeResources, Model, resources_field, sized


class StorageResources(Model):
    """Requests and limits of the LocalPV-ZFS containers (per container)."""

    zfs_plugin: ComputeResources = resources_field(sized("50m", "64Mi", "1", "512Mi"), "the ZFS CSI plugin (controller and node)")
    zfs_sidecars: ComputeResources = resources_field(
        sized("10m", "32Mi", "200m", "128Mi"),
        "each CSI sidecar (provisioner, resizer, snapshotter, snapshot-controller, node-driver-registrar)",
    )


class Storage(Model):
    default_class: str = Field("zfs", pattern=r"^[a-z0-9-]{1,63}$", description="name of the default StorageClass")
    database_class: str = Field("zfs-db", pattern=r"^[a-z0-9-]{1,63}$", description="name of the StorageClass tuned for databases")
    database_recordsize: Literal["8k", "16k", "32k", "64k", "128k"] = Field("16k", description="ZFS recordsize of database volumes")
    compression: Literal["lz4", "zstd", "off"] = Field("lz4", description="ZFS compression of volumes")
    resources: StorageResources = Field(default_factory=lambda: StorageResources(), description="requests and limits of the LocalPV-ZFS containers")
