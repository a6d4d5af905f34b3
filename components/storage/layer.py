"""The storage layer: LocalPV-ZFS, the StorageClasses and the VolumeSnapshotClass.

The zfs-localpv chart installs the CSI driver, its CRDs and the VolumeSnapshot CRDs, and runs the one
snapshot-controller of the cluster (a container of its controller pod): nothing else in this program
installs another (docs/storage.md says what to turn off when Rook-Ceph or Longhorn arrives).
StorageClasses and the VolumeSnapshotClass are created after the chart (they name its driver).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.layer import Layer, LayerArgs
from components.storage.zfs_localpv import (
    DRIVER,
    NAMESPACE,
    storage_class_parameters,
    zfs_localpv_transforms,
    zfs_localpv_values,
)

VELERO_SNAPSHOT_LABEL = "velero.io/csi-volumesnapshot-class"


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
            transforms=zfs_localpv_transforms(config),
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
