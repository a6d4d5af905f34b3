"""Scheduled, off-site etcd snapshots: a CronJob on the control planes that saves, verifies and uploads one.

Why a CronJob and not a systemd timer: the S3 credentials stay a Kubernetes Secret written from secret Outputs
(never a file in a host stage, whose digest and copies would carry them), and the image kubeadm runs etcd from
brings etcdctl and etcdutl at the cluster's etcd version. The job's pod

- runs on a control-plane node (node selector and tolerations: the witness too, it is an etcd member) on the
  host network, so `https://127.0.0.1:2379` is that node's etcd member; it reads the member's client
  certificate (`/etc/kubernetes/pki/etcd`, read-only hostPath) as root, which the key's mode 0600 requires;
- `save` (registry.k8s.io/etcd): `etcdctl snapshot save`, then `etcdutl snapshot status` (save.sh);
- `upload` (amazon/aws-cli): `aws s3 cp` to `s3://<backup.buckets.velero>/etcd-snapshots/<environment>/
  etcd-<UTC time>.db` and a size check of the stored object (upload.sh).

The snapshot holds every Secret of the cluster: mode 0600 in an emptyDir deleted with the pod, and at rest in
the bucket encrypted by its default encryption (components/backups/buckets.py). Retention is the bucket's
lifecycle rule on that prefix (`backup.etcd.retentionDays`); the verifier (`ops backups verify`) checks the
stream against the schedule (`backup.etcd.schedule`); the generic BackupCronJobTooOld alert covers the
CronJob by its name. Restore: docs/runbooks/disaster-recovery.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import versions
from components.backups import BucketTarget
from components.backups.streams import stream
from components.config.model import StackConfig
from components.placement import CONTROL_PLANE_TOLERATION, WITNESS_TOLERATION
from components.platform.common import opaque_secret, service_namespace

NAMESPACE = "etcd-backup"
CRONJOB = "etcd-backup"  # "backup" in the name: rules/backups.yaml BackupCronJobTooOld watches it
CREDENTIALS_SECRET = "etcd-backup-s3"
COMPONENT = "etcd-backup"
ETCD_PKI = "/etc/kubernetes/pki/etcd"
SNAPSHOT_DIR = "/snapshot"
SCRIPTS = Path(__file__).parent
CONTROL_PLANE_TOLERATIONS = [CONTROL_PLANE_TOLERATION, WITNESS_TOLERATION]


def script(name: str) -> str:
    return (SCRIPTS / name).read_text()


def _container_security() -> dict[str, Any]:
    return {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}


def cronjob_spec(config: StackConfig, target: BucketTarget) -> dict[str, Any]:
    """The CronJob's spec: schedule from backup.etcd, one pod at a time, two retries, the two containers."""
    assert config.backup is not None
    labels = kube.labels(COMPONENT)
    prefix = stream("etcd").prefix(config.environment)
    snapshot_mount = {"name": "snapshot", "mountPath": SNAPSHOT_DIR}
    save = {
        "name": "save",
        "image": versions.image("etcd").ref,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", script("save.sh")],
        "env": [{"name": "SNAPSHOT_DIR", "value": SNAPSHOT_DIR}, {"name": "ETCD_PKI", "value": ETCD_PKI},
                {"name": "ETCD_ENDPOINT", "value": "https://127.0.0.1:2379"}],
        "volumeMounts": [snapshot_mount, {"name": "etcd-certs", "mountPath": ETCD_PKI, "readOnly": True}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": _container_security(),
    }
    secret_env = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}}
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    ]
    upload = {
        "name": "upload",
        "image": versions.image("aws-cli").ref,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", script("upload.sh")],
        "env": [
            {"name": "SNAPSHOT_DIR", "value": SNAPSHOT_DIR},
            {"name": "BUCKET", "value": target.bucket},
            {"name": "PREFIX", "value": prefix},
            {"name": "S3_ENDPOINT", "value": target.endpoint.rstrip("/")},
            {"name": "AWS_DEFAULT_REGION", "value": target.region},
            # AWS CLI 2.23+ adds CRC checksums that S3-compatible endpoints may refuse (Velero's location sets
            # checksumAlgorithm "" for the same reason): only when an operation requires one.
            {"name": "AWS_REQUEST_CHECKSUM_CALCULATION", "value": "when_required"},
            {"name": "AWS_RESPONSE_CHECKSUM_VALIDATION", "value": "when_required"},
            {"name": "HOME", "value": "/tmp"},
            *secret_env,
        ],
        "volumeMounts": [{**snapshot_mount, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": _container_security(),
    }
    pod = {
        "restartPolicy": "Never",
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "automountServiceAccountToken": False,
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": CONTROL_PLANE_TOLERATIONS,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [save],
        "containers": [upload],
        "volumes": [
            {"name": "etcd-certs", "hostPath": {"path": ETCD_PKI, "type": "Directory"}},
            # an etcd database is at most its quota (2 GiB by default, kubeadm sets none)
            {"name": "snapshot", "emptyDir": {"sizeLimit": "4Gi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    return {
        "schedule": config.backup.etcd.schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 3000,
                "ttlSecondsAfterFinished": 86400,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
    }


class EtcdBackup(pulumi.ComponentResource):
    """Namespace etcd-backup (privileged: host network and a hostPath), the S3 credentials, the CronJob."""

    def __init__(self, name: str, config: StackConfig, target: BucketTarget, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:platform:EtcdBackup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = service_namespace(NAMESPACE, "privileged", COMPONENT, child)
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        credentials = opaque_secret(
            "etcd-backup-s3", CREDENTIALS_SECRET, NAMESPACE,
            {"AWS_ACCESS_KEY_ID": target.access_key_id, "AWS_SECRET_ACCESS_KEY": target.secret_access_key}, COMPONENT, after_ns,
        )
        self.cronjob = k8s.batch.v1.CronJob(
            "etcd-backup",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CRONJOB, namespace=NAMESPACE, labels=kube.labels(COMPONENT)),
            spec=cronjob_spec(config, target),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, credentials]),
        )
        self.register_outputs({"schedule": config.backup.etcd.schedule if config.backup else None,
                               "location": f"s3://{target.bucket}/{stream('etcd').prefix(config.environment)}"})
