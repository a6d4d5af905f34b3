"""Loki in monolithic mode (one binary, one replica): chunks and index in the telemetry bucket when the stack
has one, on the volume otherwise; retention by the compactor. Alloy pushes to it directly (no gateway)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.platform.observability.common import storage_class
from components.platform.observability.storage import ACCESS_KEY, ENV_FROM, SECRET_KEY, ObjectStore

LOKI_LABELS = {"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "single-binary"}
SCHEMA_FROM = "2026-01-01"  # the first day of the tsdb v13 schema for this installation; never change it


def _pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"}}


def loki_values(config: StackConfig, store: ObjectStore | None) -> dict[str, Any]:
    obs = config.platform.observability
    object_storage = "s3" if store else "filesystem"
    storage: dict[str, Any] = {"type": object_storage}
    if store:
        storage["bucketNames"] = {"chunks": store.bucket, "ruler": store.bucket}
        storage["s3"] = {"endpoint": store.endpoint, "region": store.region, "accessKeyId": ACCESS_KEY,
                         "secretAccessKey": SECRET_KEY, "s3ForcePathStyle": True}
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            "auth_enabled": False,  # one tenant: the platform
            "commonConfig": {"replication_factor": 1},
            "storage": storage,
            "schemaConfig": {"configs": [{
                "from": SCHEMA_FROM, "store": "tsdb", "object_store": object_storage, "schema": "v13",
                "index": {"prefix": "index_", "period": "24h"},
            }]},
            "limits_config": {"retention_period": f"{obs.log_retention_days * 24}h"},
            "compactor": {"retention_enabled": True, "delete_request_store": object_storage},
            "podSecurityContext": _pod_security(),
        },
        "singleBinary": {
            "replicas": 1,
            "resources": obs.resources.loki.as_k8s(),
            "extraArgs": ["-config.expand-env=true"],
            "extraEnvFrom": ENV_FROM if store else [],
            "persistence": {"size": obs.loki_storage, "storageClass": storage_class(config)},
        },
        # No gateway (Alloy and Grafana talk to Loki's service), no canary DaemonSet, no memcached caches
        # (a single binary's embedded cache is enough at this size), no Helm test.
        "gateway": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "sidecar": {"rules": {"enabled": False}},  # no Loki ruler rules from ConfigMaps
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
    }
