"""Velero: cluster backups to the `velero` bucket of the S3-compatible backup target.

Kopia uploader; volumes by CSI snapshot (LocalPV-ZFS VolumeSnapshotClass from the storage layer) with the
data mover (`snapshotMoveData`: the node agent copies each snapshot to the bucket, so a backup outlives the
server it was taken on); the AWS object-store plugin speaks S3 to the provider's endpoint. Two schedules:
cluster objects (no volume data) and volumes, each with its own retention from config. Database-consistent
backups are the data services' own (PXC PITR, OpenSearch snapshots); docs/runbooks/velero-restore.md.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import versions
from components.backups import BucketTarget
from components.config.model import StackConfig

VELERO_NAMESPACE = "velero"
CREDENTIALS_SECRET = "velero-s3"


def credentials_file(target: BucketTarget) -> pulumi.Output[str]:
    """The AWS shared-credentials file the plugin reads (secret)."""
    return pulumi.Output.secret(
        pulumi.Output.concat("[default]\naws_access_key_id=", target.access_key_id, "\naws_secret_access_key=", target.secret_access_key, "\n")
    )


def velero_values(config: StackConfig, target: BucketTarget) -> dict[str, Any]:
    backups = config.platform.cluster_backups
    plugin = versions.image("velero-plugin-for-aws")
    return {
        "initContainers": [{
            "name": "velero-plugin-for-aws",
            "image": plugin.ref,
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        }],
        "resources": backups.resources.as_k8s(),
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 65532, "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "credentials": {"useSecret": True, "existingSecret": CREDENTIALS_SECRET},
        "deployNodeAgent": True,
        "nodeAgent": {"resources": backups.node_agent.as_k8s(), "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
        "snapshotsEnabled": True,
        "configuration": {
            "uploaderType": "kopia",
            "features": "EnableCSI",
            "defaultSnapshotMoveData": True,
            "backupStorageLocation": [{
                "name": "default",
                "provider": "aws",
                "bucket": target.bucket,
                "prefix": config.environment,
                "default": True,
                "config": {"region": target.region, "s3Url": target.endpoint.rstrip("/"), "s3ForcePathStyle": "true",
                           "checksumAlgorithm": ""},
            }],
            "volumeSnapshotLocation": [],
        },
        "schedules": {
            "cluster-objects": {
                "disabled": False,
                "schedule": backups.objects_schedule,
                "useOwnerReferencesInBackup": False,
                "template": {"ttl": f"{backups.objects_retention_days * 24}h0m0s", "snapshotVolumes": False,
                             "includedNamespaces": ["*"], "includeClusterResources": True, "storageLocation": "default"},
            },
            "volumes": {
                "disabled": False,
                "schedule": backups.volumes_schedule,
                "useOwnerReferencesInBackup": False,
                "template": {"ttl": f"{backups.volumes_retention_days * 24}h0m0s", "snapshotVolumes": True,
                             "snapshotMoveData": True, "includedNamespaces": ["*"], "includeClusterResources": False,
                             "storageLocation": "default"},
            },
        },
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": config.platform.observability.service_monitors}},
        "upgradeCRDs": False,  # a hook Job: helm.v4.Chart applies the chart's CRDs itself
    }
