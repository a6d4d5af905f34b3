"""Grafana: data sources for Prometheus, Alertmanager, Loki and Tempo; the platform's dashboards from a
ConfigMap this program writes (dashboards.py); the admin password from pulumi-random, in a Secret of ours,
so the chart never renders a random one (which would be a permanent diff)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.platform.observability.common import (
    ALERTMANAGER_URL,
    DATASOURCES,
    LOKI_URL,
    PROMETHEUS_URL,
    TEMPO_URL,
    storage_class,
)

ADMIN_SECRET = "grafana-admin"
ADMIN_USER = "platform-admin"
DASHBOARDS_CONFIGMAP = "grafana-dashboards-platform"
DASHBOARD_PROVIDER = "platform"
GRAFANA_LABELS = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "grafana"}


def datasources() -> list[dict[str, Any]]:
    """The data sources, each with a fixed uid the dashboards refer to."""
    return [
        {"name": DATASOURCES["prometheus"], "uid": "prometheus", "type": "prometheus", "access": "proxy",
         "url": PROMETHEUS_URL, "isDefault": True, "jsonData": {"timeInterval": "30s"}},
        {"name": DATASOURCES["alertmanager"], "uid": "alertmanager", "type": "alertmanager", "access": "proxy",
         "url": ALERTMANAGER_URL, "jsonData": {"implementation": "prometheus"}},
        {"name": DATASOURCES["loki"], "uid": "loki", "type": "loki", "access": "proxy", "url": LOKI_URL,
         "jsonData": {"derivedFields": [{"name": "trace_id", "matcherRegex": "trace_id=(\\w+)", "datasourceUid": "tempo",
                                          "url": "$${__value.raw}"}]}},
        {"name": DATASOURCES["tempo"], "uid": "tempo", "type": "tempo", "access": "proxy", "url": TEMPO_URL,
         "jsonData": {"tracesToLogsV2": {"datasourceUid": "loki"}, "serviceMap": {"datasourceUid": "prometheus"}}},
    ]


def grafana_values(config: StackConfig) -> dict[str, Any]:
    obs = config.platform.observability
    return {
        "replicas": 1,  # SQLite on a ReadWriteOnce volume: one replica, replaced with Recreate
        "deploymentStrategy": {"type": "Recreate"},
        "admin": {"existingSecret": ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "resources": obs.resources.grafana.as_k8s(),
        "persistence": {"enabled": True, "type": "pvc", "size": obs.grafana_storage, "storageClassName": storage_class(config)},
        "initChownData": {"enabled": False},  # the volume is created with the pod's fsGroup: no root init container
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": datasources()}},
        "dashboardProviders": {"dashboardproviders.yaml": {"apiVersion": 1, "providers": [{
            "name": DASHBOARD_PROVIDER, "orgId": 1, "folder": "Platform", "type": "file", "disableDeletion": True,
            "editable": False, "options": {"path": f"/var/lib/grafana/dashboards/{DASHBOARD_PROVIDER}"},
        }]}},
        "dashboardsConfigMaps": {DASHBOARD_PROVIDER: DASHBOARDS_CONFIGMAP},
        "grafana.ini": {
            "analytics": {"reporting_enabled": False, "check_for_updates": False, "check_for_plugin_updates": False},
            "users": {"allow_sign_up": False},
            "auth.anonymous": {"enabled": False},
        },
        "testFramework": {"enabled": False},
    }
