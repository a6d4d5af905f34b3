"""OpenEBS LocalPV-ZFS: the CSI driver on each host's ZFS pool (chart values, StorageClass parameters)."""

from __future__ import annotations

from typing import Any

import pulumi

from components import chart_patches
from components.config.model import StackConfig

NAMESPACE = "openebs"
DRIVER = "zfs.csi.openebs.io"


def zfs_pool(config: StackConfig) -> str:
    """The ZFS pool every workload host carries (the hosts layer creates it); `tank` on existing clusters."""
    pools = sorted({h.zfs.pool for h in config.hosts if h.zfs is not None})  # one name: checks.py
    return pools[0] if pools else "tank"


def zfs_localpv_values(config: StackConfig) -> dict[str, Any]:
    return {
        "crds": {"zfsLocalPv": {"enabled": True}, "csi": {"volumeSnapshots": {"enabled": True}}},
        # One controller replica: it leader-elects and runs the cluster's single snapshot-controller.
        "zfsController": {"replicas": 1},
        "analytics": {"enabled": False},
    }


def storage_class_parameters(config: StackConfig, *, recordsize: str) -> dict[str, str]:
    return {
        "poolname": zfs_pool(config),
        "fstype": "zfs",
        "recordsize": recordsize,
        "compression": config.storage.compression,
        "dedup": "off",
        "thinprovision": "no",
    }


def zfs_localpv_transforms(config: StackConfig) -> list[pulumi.ResourceTransform]:
    """Requests and limits for every LocalPV-ZFS container: chart 2.6.2 declares `zfsController.resources` and
    `zfsNode.resources` but no template reads them, so they are set on the rendered workloads instead."""
    res = config.storage.resources
    containers = {"openebs-zfs-plugin": res.zfs_plugin, "*": res.zfs_sidecars}
    return [
        chart_patches.container_resources("Deployment", "zfs-localpv-controller", containers),
        chart_patches.container_resources("DaemonSet", "zfs-localpv-node", containers),
    ]
