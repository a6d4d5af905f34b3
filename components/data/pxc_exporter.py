"""MySQL metrics for Percona XtraDB Cluster: a mysqld_exporter sidecar in every PXC pod and its PodMonitor.

* **Why a sidecar, not PMM**: the cluster runs with `pmm.enabled: false` (PMM2 is deprecated in operator
  1.20 and needs a PMM server); the operator's `spec.pxc.sidecars` adds our own container to the PXC pods
  instead, and the capacity model counts its requests (offline/capacity_pods.py reads `pxc.sidecars`).
* **User**: the operator's `monitor` system user, created by the operator's init SQL as `'monitor'@'%'` with
  `SELECT, PROCESS, SUPER, REPLICATION CLIENT, RELOAD ON *.*` and `MAX_USER_CONNECTIONS 100`. Its password is
  the `monitor` key of the cluster's users Secret (`spec.secretsName`; the operator's docs "Users": one key per
  system user, named after the user), which the program writes (components/data/pxc.py), read through
  `MYSQLD_EXPORTER_PASSWORD` (mysqld_exporter >= 0.15 removed DATA_SOURCE_NAME; the password env var and
  `--mysqld.username` replace it). The exporter talks to mysqld over the pod's loopback.
* **Collectors**: SHOW GLOBAL STATUS (`mysql_global_status_*`, with Galera's `wsrep_*` status variables:
  cluster size, local state, flow control) and SHOW GLOBAL VARIABLES (`max_connections`); the other default
  collectors (replica status, InnoDB compression tables, query response time) are off: PXC has no async
  replica and the rules and dashboards read none of them.
* **Always in the pod, scraped when monitors are on**: the sidecar is part of the PXC pod template, so
  switching it would roll every member (SmartUpdate); only the PodMonitor follows
  `platform.observability.serviceMonitors`.
"""

from __future__ import annotations

from typing import Any

from components import versions

PORT = 9104
PORT_NAME = "metrics"
CONTAINER = "mysqld-exporter"
USER = "monitor"
MYSQLD_ADDRESS = "127.0.0.1:3306"  # mysqld in the same pod
PODMONITOR = "mysql-exporter"
SCRAPE_INTERVAL = "30s"
RESOURCES = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
COLLECTORS = ("global_status", "global_variables")
COLLECTORS_OFF = ("slave_status", "info_schema.innodb_cmp", "info_schema.innodb_cmpmem", "info_schema.query_response_time")
NOBODY = 65534  # the image's USER (prometheus/mysqld_exporter Dockerfile)


def collector_args() -> list[str]:
    """The collector flags (the same flag names in mysqld_exporter 0.14 and 0.20)."""
    return [*(f"--collect.{c}" for c in COLLECTORS), *(f"--no-collect.{c}" for c in COLLECTORS_OFF)]


def args() -> list[str]:
    return [
        f"--web.listen-address=:{PORT}",
        f"--mysqld.address={MYSQLD_ADDRESS}",
        f"--mysqld.username={USER}",
        *collector_args(),
    ]


def sidecar(users_secret: str) -> dict[str, Any]:
    """The container the operator adds to each PXC pod (schema: perconaxtradbcluster_v1 spec.pxc.sidecars)."""
    return {
        "name": CONTAINER,
        "image": versions.image("mysqld-exporter").ref,
        "args": args(),
        "env": [{"name": "MYSQLD_EXPORTER_PASSWORD", "valueFrom": {"secretKeyRef": {"name": users_secret, "key": USER}}}],
        "ports": [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}],
        "resources": RESOURCES,
        # No readiness probe: a sidecar that is not ready would take the member out of the HAProxy Service.
        "livenessProbe": {"httpGet": {"path": "/", "port": PORT}, "periodSeconds": 30, "timeoutSeconds": 5, "failureThreshold": 3},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def podmonitor_spec(pod_labels: dict[str, str]) -> dict[str, Any]:
    """Prometheus scrapes the sidecar's port on every PXC pod (labels `namespace`, `pod` from the target)."""
    return {
        "selector": {"matchLabels": pod_labels},
        "podMetricsEndpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
    }
