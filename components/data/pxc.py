"""Percona XtraDB Cluster (MySQL 8.4): the operator chart, the cluster as a typed custom resource, backups,
point-in-time recovery, an optional restore and one tenancy Job per store.

* **Members**: 1 (the operator's `unsafeFlags.pxcSize`, explicitly non-HA: losing the server is downtime
  until it returns or a restore) or 3, one per failure domain (required anti-affinity on the zone key),
  tolerating the witness taint so that a third domain with a pool can carry the third member. When only two
  domains have storage and the third is a witness (prod: two servers and a small VPS), 2 data members (one per
  storage domain, `unsafeFlags.pxcSize`) and a Galera arbitrator (garbd) on the witness as the third vote
  (components/data/pxc_arbitrator.py; the same shape as OpenSearch's manager-only witness node).
* **One writer**: Magento talks to the `mysql-haproxy` Service, which sends every connection to one
  member (the others are HAProxy backups); the replicas Service is switched off so nothing reads from the
  others (Galera certification conflicts and node-local `GET_LOCK`).
* **Backups**: a daily full backup (XtraBackup) kept `keepDays` (count retention, one a day) to the
  mysql bucket under `full/`, binlogs every `binlogUploadSeconds` under `binlogs/` (PITR). The
  operator's count retention never deletes binlogs: the bucket's lifecycle must (components/backups).
* **System users**: the cluster's Secret is ours, every password from pulumi-random, so the tenancy
  Jobs can read the root password from an object the program owns.
* **Metrics**: a mysqld_exporter sidecar in every PXC pod as the `monitor` system user, scraped through a
  PodMonitor (components/data/pxc_exporter.py); PMM stays off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import versions
from components.backups import BucketTarget
from components.config.model import StackConfig
from components.data import mysql_config, pxc_arbitrator, pxc_exporter
from components.layer import service_monitors
from components.network_policy import namespace_isolation
from components.placement import HOST_KEY, WITNESS_TOLERATION, ZONE_KEY, spread_constraints, witness_quorum

NAMESPACE = "mysql"
CLUSTER = "mysql"
WRITER_SERVICE = f"{CLUSTER}-haproxy"
WRITER_HOST = f"{WRITER_SERVICE}.{NAMESPACE}.svc.cluster.local"
PORT = 3306
SYSTEM_USERS_SECRET = f"{CLUSTER}-system-users"
S3_SECRET = f"{CLUSTER}-backup-s3"
SYSTEM_USERS = ("root", "xtrabackup", "monitor", "operator", "replication", "proxyadmin")
BACKUP_STORAGE, BINLOG_STORAGE = "s3-full", "s3-binlogs"
CR_VERSION = versions.chart("pxc-operator").app_version


def pod_labels(component: str) -> dict[str, str]:
    """The labels the operator gives a cluster's pods (pxc, haproxy)."""
    return {"app.kubernetes.io/instance": CLUSTER, "app.kubernetes.io/component": component}


def arbitrated(config: StackConfig) -> bool:
    """Two data members and garbd on the witness: three members wanted, two storage domains and a witness."""
    return witness_quorum(config, config.replicas_for(config.data.mysql))


def data_members(config: StackConfig) -> int:
    """The cluster's PXC members (`spec.pxc.size`): one fewer than the votes when garbd casts the third."""
    wanted = config.replicas_for(config.data.mysql)
    return wanted - 1 if arbitrated(config) else wanted


def operator_values(config: StackConfig) -> dict[str, Any]:
    """pxc-operator: one replica watching its own namespace, telemetry off."""
    return {
        "watchAllNamespaces": False,
        "disableTelemetry": True,
        "replicaCount": 1,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _placement(component: str, members: int, failure_domains: int, *, quorum: bool) -> dict[str, Any]:
    """Quorum members go one per failure domain (the witness's included); HAProxy pods one per host."""
    zone_each = quorum and members > 1 and failure_domains >= members
    return {
        "affinity": {"antiAffinityTopologyKey": ZONE_KEY if zone_each else (HOST_KEY if members > 1 else "none")},
        "topologySpreadConstraints": spread_constraints(pod_labels(component), failure_domains) if members > 1 else [],
        "podDisruptionBudget": {"maxUnavailable": 1},
    }


def backup_spec(config: StackConfig, target: BucketTarget, keep: int) -> dict[str, Any]:
    settings = config.data.mysql.backup
    hour, minute = settings.time.split(":")

    def storage(prefix: str) -> dict[str, Any]:
        return {
            "type": "s3",
            "verifyTLS": True,
            "s3": {
                "bucket": target.bucket, "prefix": f"{config.environment}/{prefix}", "region": target.region,
                "endpointUrl": target.endpoint, "credentialsSecret": S3_SECRET, "forcePathStyle": True,
            },
            "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }

    spec: dict[str, Any] = {
        "image": versions.image("xtrabackup").ref,
        "backoffLimit": 3,
        "storages": {BACKUP_STORAGE: storage("full"), BINLOG_STORAGE: storage("binlogs")},
        "schedule": [{
            "name": "daily-full",
            "schedule": f"{int(minute)} {int(hour)} * * *",
            "storageName": BACKUP_STORAGE,
            "retention": {"type": "count", "count": keep, "deleteFromStorage": True},
        }],
    }
    spec["pitr"] = {
        "enabled": settings.pitr,
        "storageName": BINLOG_STORAGE,
        "timeBetweenUploads": settings.binlog_upload_seconds,
        "timeoutSeconds": 60,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
    }
    return spec


def cluster_spec(config: StackConfig, failure_domains: int, my_cnf: str, backup: dict[str, Any] | None) -> dict[str, Any]:
    """The PerconaXtraDBCluster spec (schema: pxc.percona.com/perconaxtradbcluster_v1)."""
    mysql = config.data.mysql
    members = data_members(config)
    # Two HAProxy pods on two hosts once there are two (stateless, they do not run on the witness).
    proxies = 1 if failure_domains < 2 or members == 1 else 2
    spec: dict[str, Any] = {
        "crVersion": CR_VERSION,
        "secretsName": SYSTEM_USERS_SECRET,
        "tls": {"enabled": True},
        "updateStrategy": "SmartUpdate",
        "upgradeOptions": {"apply": "disabled", "schedule": "0 4 * * *"},
        "enableVolumeExpansion": True,
        "pxc": {
            "size": members,
            "image": versions.image("pxc").ref,
            "autoRecovery": True,
            "configuration": my_cnf,
            "resources": mysql.resources.as_k8s(),
            "volumeSpec": {"persistentVolumeClaim": {
                "storageClassName": config.storage.database_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": mysql.storage}},
            }},
            # a full member on a witness only when it is the third of three (with garbd the witness has no member)
            **({} if arbitrated(config) else {"tolerations": [WITNESS_TOLERATION]}),
            "gracePeriod": 600,
            "sidecars": [pxc_exporter.sidecar(SYSTEM_USERS_SECRET)],  # mysqld_exporter (components/data/pxc_exporter.py)
            **_placement("pxc", members, failure_domains, quorum=True),
        },
        "haproxy": {
            "enabled": True,
            "size": proxies,
            "image": versions.image("pxc-haproxy").ref,
            "resources": mysql.haproxy.as_k8s(),
            "replicasServiceEnabled": False,
            "gracePeriod": 30,
            **_placement("haproxy", proxies, failure_domains, quorum=False),
        },
        "proxysql": {"enabled": False},
        "logcollector": {"enabled": False},  # mysqld logs to the container's stdout, which Alloy collects
        "pmm": {"enabled": False},
    }
    if members < 3 or proxies < 2:
        spec["unsafeFlags"] = {"pxcSize": members < 3, "proxySize": proxies < 2}
    if backup is not None:
        spec["backup"] = backup
    return spec


def restore_spec(config: StackConfig, target: BucketTarget | None) -> dict[str, Any] | None:
    """The PerconaXtraDBClusterRestore the configuration asks for (schema: perconaxtradbclusterrestore_v1)."""
    restore = config.data.mysql.restore
    if restore is None:
        return None
    spec: dict[str, Any] = {"pxcCluster": CLUSTER}
    if restore.backup_name:
        spec["backupName"] = restore.backup_name
    else:
        s3: dict[str, Any] = {"credentialsSecret": S3_SECRET}
        if target is not None:
            s3 |= {"endpointUrl": target.endpoint, "region": target.region}
        spec["backupSource"] = {"destination": restore.backup_destination, "s3": s3}
    if restore.point_in_time:
        spec["pitr"] = {"type": "date", "date": restore.point_in_time, "backupSource": {"storageName": BINLOG_STORAGE}}
    return spec


@dataclass(frozen=True)
class PxcArgs:
    config: StackConfig
    failure_domains: int
    site_connections: int  # what every store opens at most (components/sizing.py)
    backup_target: BucketTarget | None
    allow_from: tuple[str, ...]  # namespaces whose pods reach the writer (the stores)


class PerconaXtraDB(pulumi.ComponentResource):
    """The MySQL service of the platform: operator, cluster, backups and its system users."""

    def __init__(self, name: str, args: PxcArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:PerconaXtraDB", name, None, opts)
        config = args.config
        mysql = config.data.mysql
        self.sizing = mysql_config.sizing(
            mysql_config.parse_memory(mysql.resources.memory_limit), mysql.buffer_pool_share, args.site_connections
        )
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = kube.namespace(f"{name}-namespace", NAMESPACE, level="baseline", component="mysql", opts=child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        # garbd has its own policy (4567 with the members only): the baseline isolation leaves it out
        arbitrator_labels = pxc_arbitrator.APP if arbitrated(config) else None
        namespace_isolation(f"{name}-isolation", NAMESPACE, allow_from=args.allow_from, exclude=arbitrator_labels, opts=in_ns)
        self.operator = kube.chart(f"{name}-operator", "pxc-operator", namespace=NAMESPACE, values=operator_values(config), opts=in_ns)

        passwords = {
            user: random.RandomPassword(f"{name}-{user}-password", length=32, special=False, opts=child)
            for user in SYSTEM_USERS
        }
        self.root_password = pulumi.Output.secret(passwords["root"].result)
        self.system_users = k8s.core.v1.Secret(
            f"{name}-system-users",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SYSTEM_USERS_SECRET, namespace=NAMESPACE, labels=kube.labels("mysql")),
            type="Opaque",
            string_data={user: password.result for user, password in passwords.items()},
            opts=in_ns,
        )
        depends: list[pulumi.Resource] = [self.operator, self.system_users]
        backup = None
        if args.backup_target is not None:
            target = args.backup_target
            depends.append(k8s.core.v1.Secret(
                f"{name}-backup-s3",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=S3_SECRET, namespace=NAMESPACE, labels=kube.labels("mysql")),
                type="Opaque",
                string_data={"AWS_ACCESS_KEY_ID": target.access_key_id, "AWS_SECRET_ACCESS_KEY": target.secret_access_key},
                opts=in_ns,
            ))
            retention = config.backup.retention_days if config.backup else 30
            backup = backup_spec(config, target, mysql.backup.keep_days or retention)
        self.cluster = kube.custom_object(
            f"{name}-cluster",
            "pxc.percona.com/v1",
            "PerconaXtraDBCluster",
            metadata={"name": CLUSTER, "namespace": NAMESPACE, "labels": kube.labels("mysql"),
                      "finalizers": ["percona.com/delete-pxc-pods-in-order"]},
            fields={"spec": cluster_spec(config, args.failure_domains, mysql_config.my_cnf(self.sizing, mysql.strict_mode), backup)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends, protect=config.protect_stateful),
        )
        self.arbitrator = None
        if arbitrated(config):
            self.arbitrator = pxc_arbitrator.GaleraArbitrator(
                f"{name}-arbitrator",
                pxc_arbitrator.ArbitratorArgs(CLUSTER, NAMESPACE, data_members(config), {**pod_labels("pxc")}),
                pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )
        if service_monitors(config):
            kube.custom_object(
                f"{name}-exporter-monitor", "monitoring.coreos.com/v1", "PodMonitor",
                metadata={"name": pxc_exporter.PODMONITOR, "namespace": NAMESPACE, "labels": kube.labels("mysql")},
                fields={"spec": pxc_exporter.podmonitor_spec(pod_labels("pxc"))},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )
        restore = restore_spec(config, args.backup_target)
        if restore is not None:
            kube.custom_object(
                f"{name}-restore",
                "pxc.percona.com/v1",
                "PerconaXtraDBClusterRestore",
                metadata={"name": mysql.restore.name, "namespace": NAMESPACE, "labels": kube.labels("mysql")},  # type: ignore[union-attr]
                fields={"spec": restore},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )
        self.register_outputs({"writer": f"{WRITER_HOST}:{PORT}", "members": data_members(config), "arbitrator": arbitrated(config)})
