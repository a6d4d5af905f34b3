"""Values the program sets that the chart does not have.

Helm ignores a values key no template reads, so a misspelled key (`replica` for `replicas`, a key a chart
renamed between versions) silently does nothing. Every key path the program sets must exist in the
chart's default values (`values.yaml`, with each subchart's defaults under its alias, and `global`) or be
described by its `values.schema.json`. Below a key whose default is an empty map or null, the chart
takes whatever it is given (annotations, extra arguments, resources), so anything goes there; a list is
taken whole. Keys a chart documents without a default in values.yaml are accepted only when listed in
`DOCUMENTED_KEYS` below, each with where the chart documents it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# chart name -> key paths (globs) the chart reads although its values.yaml has no default for them.
# Each entry is reviewed: say where the chart documents the key.
DOCUMENTED_KEYS: dict[str, dict[str, str]] = {
    "harbor": {
        glob: "values.yaml documents each component's `resources` commented out (`# resources: requests: ...`); "
        "the component templates read `.Values.<component>.resources` (harbor 1.19.2)"
        for glob in ("*.resources", "*.*.resources")
    },
    "argo-cd": {
        "configs.params.*": "values.yaml: `configs.params`: \"You can customize parameters by adding parameters here\"; "
        "templates/argocd-configs/argocd-cmd-params-cm.yaml writes every key into argocd-cmd-params-cm",
    },
    "grafana": {
        "grafana.ini.*": "grafana.ini is Grafana's own configuration, converted to ini as given (values.yaml: `values in "
                         "map will be converted to ini format`); its sections are Grafana's, not the chart's",
        "persistence.storageClassName": "values.yaml documents it commented out (`# storageClassName: default`); "
                                        "templates/pvc.yaml reads it",
    },
    "tempo": {
        "tempo.storage.trace.s3*": "values.yaml documents the S3 backend commented out (`# backend: s3`, `# s3:` with bucket, "
                                   "endpoint, access_key, ...); the config template copies tempo.storage whole (toYaml)",
        "persistence.storageClassName": "values.yaml documents it commented out (`# storageClassName: local-path`); "
                                        "templates/statefulset.yaml reads it",
        "tempo.storage.trace.s3": "values.yaml documents it commented out under tempo.storage.trace (`# s3:` with "
                                  "bucket, endpoint, access_key, secret_key, insecure); the `config` value renders "
                                  "`toYaml .Values.tempo.storage` as Tempo's own storage block",
        "tempo.storage.trace.s3.*": "Tempo's own S3 storage settings (grafana.com/docs/tempo/latest/configuration/#storage)",
    },
    "gateway-helm": {
        "podDisruptionBudget.maxUnavailable": (
            "values.yaml documents it commented out (`# maxUnavailable: 1`); "
            "templates/envoy-gateway-poddisruptionbudget.yaml reads it"
        ),
    },
}

# Keys whose content a chart copies into the rendered objects verbatim (Kubernetes fields): anything below
# them goes, and the rendered objects' schema validation checks it.
PASSTHROUGH = frozenset({
    "resources", "securityContext", "podSecurityContext", "containerSecurityContext", "affinity", "nodeSelector",
    "tolerations", "topologySpreadConstraints", "annotations", "labels", "podAnnotations", "podLabels",
    "livenessProbe", "readinessProbe", "startupProbe", "extraArgs", "env", "extraEnv",
})


def _members(archive: Path) -> dict[str, bytes]:
    wanted = ("values.yaml", "values.schema.json", "Chart.yaml")
    with tarfile.open(archive) as tar:
        return {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile() and member.name.rsplit("/", 1)[-1] in wanted
        }


def _load_yaml(data: bytes | None) -> Any:
    return yaml.load(data, Loader=yaml.CSafeLoader) if data else None


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return overlay if overlay is not None else base


def _chart_defaults(files: dict[str, bytes], root: str) -> dict[str, Any]:
    values = _load_yaml(files.get(f"{root}/values.yaml")) or {}
    chart = _load_yaml(files.get(f"{root}/Chart.yaml")) or {}
    aliases = {dep.get("name"): dep.get("alias") or dep.get("name") for dep in chart.get("dependencies") or []}
    subcharts = sorted({name.split("/")[len(root.split("/")) + 1] for name in files
                        if name.startswith(f"{root}/charts/") and name.endswith("/Chart.yaml")
                        and len(name.split("/")) == len(root.split("/")) + 3})
    for sub in subcharts:
        sub_defaults = _chart_defaults(files, f"{root}/charts/{sub}")
        key = aliases.get(sub, sub)
        values[key] = _merge(sub_defaults, values.get(key))
    values.setdefault("global", {})
    return values


@functools.cache
def chart_defaults(archive: Path) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """(chart name, merged default values, values.schema.json or None) of a chart archive."""
    files = _members(archive)
    root = min((name.split("/")[0] for name in files), key=len)
    chart = _load_yaml(files.get(f"{root}/Chart.yaml")) or {}
    schema_text = files.get(f"{root}/values.schema.json")
    return str(chart.get("name", root)), _chart_defaults(files, root), json.loads(schema_text) if schema_text else None


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/$defs/...`, `#/definitions/...`)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and seen < 32:
        target: Any = schema
        for part in node["$ref"][2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        node, seen = target, seen + 1
    return node


def _schema_knows(schema: dict[str, Any] | None, path: list[str]) -> bool:
    if schema is None:
        return False
    node: Any = schema
    for key in path:
        node = _resolve(schema, node)
        if not isinstance(node, dict):
            return False
        properties = node.get("properties") or {}
        if key not in properties:
            # An open map (additionalProperties / patternProperties) takes any key from here on.
            return bool(node.get("additionalProperties") not in (None, False) or node.get("patternProperties"))
        node = properties[key]
    return True


def _leaf_paths(values: Any, prefix: list[str]) -> Iterator[list[str]]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaf_paths(value, [*prefix, str(key)])
    else:
        yield prefix


def unknown_keys(chart: str, defaults: dict[str, Any], schema: dict[str, Any] | None, values: dict[str, Any]) -> list[str]:
    """Key paths of `values` that the chart neither defaults, describes in its schema, nor documents."""
    documented = DOCUMENTED_KEYS.get(chart, {})
    problems = []
    for path in _leaf_paths(values, []):
        node: Any = defaults
        for depth, key in enumerate(path):
            if not isinstance(node, dict) or (node == {} and depth > 0):
                break  # below an empty map, null or a scalar default the chart takes what it is given
            if key in node:
                node = node[key]
                if node is None or key in PASSTHROUGH:
                    break
                continue
            dotted = ".".join(path[: depth + 1])
            if _schema_knows(schema, path[: depth + 1]) or any(fnmatch.fnmatchcase(dotted, glob) for glob in documented):
                break
            problems.append(dotted)
            break
    return sorted(set(problems))


def check_values(archive: Path, values: dict[str, Any]) -> list[str]:
    chart, defaults, schema = chart_defaults(archive)
    return unknown_keys(chart, defaults, schema, values)
