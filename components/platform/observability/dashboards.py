"""The platform's Grafana dashboards: a compact spec per dashboard in dashboards/ (title, uid, one panel per
row: a query, a unit, a panel type), turned into Grafana dashboard JSON (schemaVersion 39) and written to
one ConfigMap that Grafana's file provider reads. Every panel names its data source by uid (grafana.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kube
from components.platform.observability.common import DATASOURCES, NAMESPACE
from components.platform.observability.grafana import DASHBOARDS_CONFIGMAP

DASHBOARDS_DIR = Path(__file__).parent / "dashboards"
PANEL_TYPES = {"timeseries", "stat", "logs"}
WIDTH, HEIGHT = 12, 8


def specs() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.yaml"))}


def _panel(index: int, row: dict[str, Any]) -> dict[str, Any]:
    source = row.get("datasource", "prometheus")
    if source not in DATASOURCES:
        raise ValueError(f"panel {row['title']!r}: data source {source!r} is not one of {sorted(DATASOURCES)}")
    kind = row.get("type", "logs" if source == "loki" else "timeseries")
    if kind not in PANEL_TYPES:
        raise ValueError(f"panel {row['title']!r}: type {kind!r} is not one of {sorted(PANEL_TYPES)}")
    datasource = {"type": source, "uid": source}
    exprs = [row["expr"], *row.get("extra", [])]
    targets = [{"refId": chr(ord("A") + i), "datasource": datasource, "expr": expr,
                **({"legendFormat": row["legend"]} if "legend" in row and i == 0 else {})}
               for i, expr in enumerate(exprs)]
    panel: dict[str, Any] = {
        "id": index + 1,
        "type": kind,
        "title": row["title"],
        "datasource": datasource,
        "gridPos": {"x": (index % 2) * WIDTH, "y": (index // 2) * HEIGHT, "w": WIDTH, "h": HEIGHT},
        "targets": targets,
    }
    if kind != "logs":
        panel["fieldConfig"] = {"defaults": {"unit": row.get("unit", "short")}, "overrides": []}
        panel["options"] = {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {}
    return panel


def dashboard(spec: dict[str, Any]) -> dict[str, Any]:
    """One Grafana dashboard model from its spec."""
    return {
        "uid": spec["uid"],
        "title": spec["title"],
        "tags": ["platform"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": [_panel(i, row) for i, row in enumerate(spec["rows"])],
    }


def dashboard_files() -> dict[str, str]:
    """ConfigMap data: `<name>.json` -> the dashboard's JSON text (sorted keys: the same text on every run)."""
    return {f"{name}.json": json.dumps(dashboard(spec), indent=1, sort_keys=True) for name, spec in specs().items()}


def dashboards_configmap(opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        "grafana-dashboards",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=DASHBOARDS_CONFIGMAP, namespace=NAMESPACE, labels=kube.labels("monitoring")),
        data=dashboard_files(),
        opts=opts,
    )
