"""Tempo, monolithic (one binary, one replica): OTLP from Alloy; blocks in the telemetry bucket (under
`<environment>/tempo`) when the stack has one, on the volume otherwise; retention by the compactor."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.platform.observability.common import storage_class
from components.platform.observability.storage import ACCESS_KEY, ENV_FROM, SECRET_KEY, ObjectStore

TEMPO_LABELS = {"app.kubernetes.io/name": "tempo", "app.kubernetes.io/instance": "tempo"}


def tempo_values(config: StackConfig, store: ObjectStore | None) -> dict[str, Any]:
    obs = config.platform.observability
    trace: dict[str, Any] = {"wal": {"path": "/var/tempo/wal"}}
    if store:
        trace.update(backend="s3", s3={
            "bucket": store.bucket, "endpoint": store.host, "region": store.region, "prefix": store.tempo_prefix,
            "forcepathstyle": True, "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
        })
    else:
        trace.update(backend="local", local={"path": "/var/tempo/traces"})
    return {
        "replicas": 1,
        "tempo": {
            "resources": obs.resources.tempo.as_k8s(),
            "retention": f"{obs.trace_retention_days * 24}h",
            "reportingEnabled": False,
            "storage": {"trace": trace},
            # OTLP only (Alloy forwards every trace format it receives as OTLP).
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}},
            "extraArgs": {"config.expand-env": "true"},
            "extraEnvFrom": ENV_FROM if store else [],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True},
        },
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "persistence": {"enabled": True, "size": obs.tempo_storage, "storageClassName": storage_class(config)},
    }
