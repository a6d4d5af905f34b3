"""The storage layer: LocalPV-ZFS, the StorageClasses and the VolumeSnapshotClass.

The zfs-localpv chart installs the CSI driver, its CRDs and the VolumeSnapshot CRDs, and runs the one
snapshot-controller of the cluster (a container of its controller pod): nothing else in this program
installs another (docs/storage.md says what to turn off when Rook-Ceph or Longhorn arrives).
StorageClasses and the VolumeSnapshotClass are created after the chart (they name its driver).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import StackConfig
from components.layer import Layer, LayerArgs

NAMESPACE = "openebs"
DRIVER = "zfs.csi.openebs.io"
VELERO_SNAPSHOT_LABEL = "velero.io/csi-volumesnapshot-class"


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
        "backupGC": {"enabled": True},
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


class Storage(Layer):
    TYPE = "magento:storage:Storage"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config = args.config
        settings = config.storage
        ns = kube.namespace(NAMESPACE, NAMESPACE, level="privileged", component="storage", opts=self.child_opts)
        self.chart = kube.chart(
            "zfs-localpv",
            "zfs-localpv",
            namespace=NAMESPACE,
            values=zfs_localpv_values(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=[self.chart])
        classes = {
            settings.default_class: ("128k", True, "general purpose (media, search, queues)"),
            settings.database_class: (settings.database_recordsize, False, "databases (InnoDB pages)"),
        }
        self.classes = [
            k8s.storage.v1.StorageClass(
                f"storageclass-{name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=name,
                    labels=kube.labels("storage"),
                    annotations={
                        "storageclass.kubernetes.io/is-default-class": "true" if default else "false",
                        "magento.io/purpose": purpose,
                    },
                ),
                provisioner=DRIVER,
                parameters=storage_class_parameters(config, recordsize=recordsize),
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=True,
                reclaim_policy="Retain" if config.protect_stateful else "Delete",
                opts=after_chart,
            )
            for name, (recordsize, default, purpose) in classes.items()
        ]
        kube.custom_object(
            "volumesnapshotclass-zfs",
            "snapshot.storage.k8s.io/v1",
            "VolumeSnapshotClass",
            metadata={"name": "zfs", "labels": {**kube.labels("storage"), VELERO_SNAPSHOT_LABEL: "true"}},
            fields={"driver": DRIVER, "deletionPolicy": "Retain" if config.protect_stateful else "Delete"},
            opts=after_chart,
        )
        return {"defaultClass": settings.default_class, "databaseClass": settings.database_class, "snapshotClass": "zfs"}
