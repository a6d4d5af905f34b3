"""Charts and release manifests rendered as the Kubernetes provider applies them.

What pulumi-kubernetes does with a `helm.v4.Chart` (provider/pkg/provider/helm/v4/chart.go) and a
`yaml.v2.ConfigFile` (yaml/v2/configfile.go), and what this module does offline:

- **inputs unknown** (a preview before a value is computed): the provider registers no children at all
  ("Preview is incomplete"); so does this module, and it says which value was unknown;
- **template**: `helm template` with the Chart's release name (its `name`, else the resource name), its
  namespace and values, CRDs included unless `skipCrds`, **hooks disabled** (hook objects are never applied;
  they are reported here with their events), the cluster's Kubernetes version and API versions
  (`--kube-version`, `--api-versions`: the program's Kubernetes version, and every CRD the program's
  charts and manifests install, as the cluster has them once they exist);
- **normalise**: `List` objects expanded, the core group canonicalised, the chart's namespace applied to
  namespaced objects that have none;
- **register**: each object becomes a child of the Chart named `<chart resource name>:<namespace>/<name>`
  (`<prefix>:<name>` when cluster-scoped), of type `kubernetes:<group>/<version>:<Kind>`; a Secret's
  `data`/`stringData` are secret; `helm.sh/resource-policy: keep` becomes `retainOnDelete`.

Renders are cached by their inputs (in memory and under `build/.render-cache/`), so repeated runs of the
same stack do not call Helm again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components import versions
from offline.chart_cache import ChartUnavailableError, ensure_chart, ensure_manifest, pin_for_chart, pin_for_manifest
from offline.helm import HelmError, run_helm
from offline.kinds import Scopes
from offline.schemas import is_core
from offline.stackfile import ROOT

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
CONFIG_FILE_TYPE = "kubernetes:yaml/v2:ConfigFile"
RENDERED_TYPES = (CHART_TYPE, CONFIG_FILE_TYPE)
HOOK_ANNOTATION = "helm.sh/hook"
KEEP_ANNOTATION = "helm.sh/resource-policy"
UNKNOWN = "<unknown at preview>"
CACHE = Path(os.environ.get("MAGENTO_RENDER_CACHE", ROOT / "build" / ".render-cache"))


@dataclass(frozen=True)
class Hook:
    """A hook object of a chart: rendered by Helm, never applied by the provider."""

    kind: str
    name: str
    events: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({', '.join(self.events)})"


@dataclass
class Rendered:
    """What one Chart or ConfigFile resource becomes under the provider."""

    urn: str
    resource_name: str
    source: str  # e.g. "cilium 1.20.0 (chart)" or "rabbitmq-cluster-operator 2.22.3 (manifest)"
    namespace: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    incomplete: str | None = None  # why nothing was rendered (unknown inputs at preview)
    error: str | None = None  # why it could not be rendered (not a pin, not in the cache, helm failed)
    unresolved_scope: list[str] = field(default_factory=list)  # kinds whose namespace scope is unknown
    # Objects that render only once CRDs installed by the program exist (absent from a first `up`).
    capability_gated: list[str] = field(default_factory=list)

    def child_name(self, obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        return f"{self.resource_name}:{name}"


def child_type(obj: dict[str, Any]) -> str:
    """The Pulumi type token the provider registers an object under (`kubernetes:core/v1:Service`)."""
    api_version = obj["apiVersion"]
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{obj['kind']}"


# ------------------------------------------------------------------------------------------ unknowns


def unknown_path(value: Any, path: str = "") -> str | None:
    """The first path under `value` that is unknown at preview, if any."""
    if isinstance(value, str) and value == UNKNOWN:
        return path or "(root)"
    if isinstance(value, dict):
        for key, item in value.items():
            found = unknown_path(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unknown_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


# ------------------------------------------------------------------------------------------ helm


@dataclass(frozen=True)
class ChartRequest:
    archive: Path
    release: str
    namespace: str
    values: str  # JSON, keys sorted
    include_crds: bool
    kube_version: str
    api_versions: tuple[str, ...]

    def key(self) -> str:
        digest = hashlib.sha256()
        digest.update(_file_digest(self.archive).encode())
        digest.update(json.dumps([self.release, self.namespace, self.values, self.include_crds, self.kube_version,
                                  list(self.api_versions)]).encode())
        return digest.hexdigest()


_FILE_DIGESTS: dict[Path, str] = {}
_MEMORY: dict[str, str] = {}


def _file_digest(path: Path) -> str:
    if path not in _FILE_DIGESTS:
        _FILE_DIGESTS[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _FILE_DIGESTS[path]


def helm_template(request: ChartRequest) -> list[dict[str, Any]]:
    """The objects `helm template` renders for the request (hooks included, so that they can be reported).

    Cached by the request's inputs as JSON (memory and disk); each call returns fresh objects."""
    key = request.key()
    if key not in _MEMORY:
        cached = CACHE / f"{key}.json"
        if cached.is_file():
            _MEMORY[key] = cached.read_text()
        else:
            _MEMORY[key] = json.dumps(parse_documents(_run_template(request)))
            CACHE.mkdir(parents=True, exist_ok=True)
            cached.write_text(_MEMORY[key])
    return json.loads(_MEMORY[key])


def _run_template(request: ChartRequest) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(request.values)
        values_file = handle.name
    try:
        args = [
            "template", request.release, str(request.archive),
            "--namespace", request.namespace,
            "--values", values_file,
            "--kube-version", request.kube_version,
            "--include-crds" if request.include_crds else "--skip-crds",
        ]
        for api_version in request.api_versions:
            args += ["--api-versions", api_version]
        return run_helm(args)
    finally:
        os.unlink(values_file)


class _ChartLoader(yaml.CSafeLoader):
    """YAML as Helm and the API server read it: a plain `=` is the string "=" (PyYAML's YAML 1.1 `value` tag
    has no constructor; the prometheus-operator CRDs list `=` in an enum)."""


_ChartLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def parse_documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text, `List` kinds expanded, empty documents skipped."""
    objects: list[dict[str, Any]] = []
    pending = [doc for doc in yaml.load_all(text, Loader=_ChartLoader) if doc]
    while pending:
        obj = pending.pop(0)
        if not isinstance(obj, dict):
            continue
        if str(obj.get("kind", "")).endswith("List") and isinstance(obj.get("items"), list):
            pending = [item for item in obj["items"] if item] + pending
            continue
        objects.append(obj)
    return objects


def split_hooks(objects: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Hook]]:
    """Release-manifest objects and hook objects (which the provider never applies)."""
    manifest, hooks = [], []
    for obj in objects:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        events = annotations.get(HOOK_ANNOTATION)
        if events:
            hooks.append(Hook(obj.get("kind", ""), (obj.get("metadata") or {}).get("name", ""),
                              tuple(e.strip() for e in str(events).split(","))))
        else:
            manifest.append(obj)
    return manifest, hooks


def normalize(objects: list[dict[str, Any]], namespace: str, scopes: Scopes) -> tuple[list[dict[str, Any]], list[str]]:
    """The provider's Normalize: core group canonicalised, the default namespace on namespaced objects."""
    unresolved: list[str] = []
    for obj in objects:
        if str(obj.get("apiVersion", "")).startswith("core/"):
            obj["apiVersion"] = obj["apiVersion"][len("core/"):]
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace"):
            continue
        kind = obj.get("kind", "")
        if scopes.knows(kind):
            if not scopes.is_cluster_scoped(kind):
                meta["namespace"] = namespace
        elif is_core(str(obj.get("apiVersion", ""))):
            meta["namespace"] = namespace  # a built-in kind not in the cluster-scoped table is namespaced
        else:
            unresolved.append(f"{obj.get('apiVersion')}/{kind}")
    return objects, sorted(set(unresolved))


# ------------------------------------------------------------------------------------------ resources


def chart_request(inputs: dict[str, Any], resource_name: str, kube_version: str, api_versions: Iterable[str]) -> ChartRequest:
    pin = pin_for_chart(str(inputs.get("chart", "")), str(inputs.get("version", "")),
                        str((inputs.get("repositoryOpts") or {}).get("repo", "")))
    if pin is None:
        raise LookupError(
            f"chart {inputs.get('chart')} {inputs.get('version')} is not a pin of components/versions.py CHARTS "
            "(build charts with components.k8s.chart())"
        )
    return ChartRequest(
        archive=ensure_chart(pin),
        release=str(inputs.get("name") or resource_name),
        namespace=str(inputs.get("namespace") or "default"),
        values=json.dumps(inputs.get("values") or {}, sort_keys=True),
        include_crds=not inputs.get("skipCrds", False),
        kube_version=kube_version,
        api_versions=tuple(sorted(api_versions)),
    )


def render_resource(
    record_type: str, urn: str, resource_name: str, inputs: dict[str, Any], *,
    kube_version: str, scopes: Scopes,
) -> Rendered:
    """Render one Chart or ConfigFile resource (its inputs as registered) as the provider would; what cannot be
    rendered is reported in `error` (the plan's chart check fails on it)."""
    try:
        return _render(record_type, urn, resource_name, inputs, kube_version=kube_version, scopes=scopes)
    except (LookupError, ChartUnavailableError, HelmError) as exc:
        return Rendered(urn, resource_name, f"{inputs.get('chart') or inputs.get('file')}", str(inputs.get("namespace") or "default"),
                        error=str(exc))


def _render(
    record_type: str, urn: str, resource_name: str, inputs: dict[str, Any], *,
    kube_version: str, scopes: Scopes,
) -> Rendered:
    unknown = unknown_path(inputs)
    if record_type == CHART_TYPE:
        source_pin = pin_for_chart(str(inputs.get("chart", "")), str(inputs.get("version", "")),
                                   str((inputs.get("repositoryOpts") or {}).get("repo", "")))
        source = f"{source_pin.chart} {source_pin.version} (chart)" if source_pin else f"{inputs.get('chart')} (chart, unpinned)"
        namespace = str(inputs.get("namespace") or "default")
        rendered = Rendered(urn, resource_name, source, namespace)
        if unknown:
            rendered.incomplete = f"input {unknown} is unknown at preview: the provider renders no objects"
            return rendered
        request = chart_request(inputs, resource_name, kube_version, scopes.api_versions())
        objects = helm_template(request)
        manifest, rendered.hooks = split_hooks(objects)
        rendered.objects, rendered.unresolved_scope = normalize(manifest, namespace, scopes)
        return rendered
    manifest_pin = pin_for_manifest(str(inputs.get("file", "")))
    if manifest_pin is None:
        raise LookupError(f"manifest {inputs.get('file')} is not a pin of components/versions.py MANIFESTS")
    prefix = str(inputs.get("resourcePrefix") or resource_name)
    rendered = Rendered(urn, prefix, f"{manifest_pin.name} {manifest_pin.version} (manifest)", "default")
    if unknown:
        rendered.incomplete = f"input {unknown} is unknown at preview: the provider renders no objects"
        return rendered
    objects = _manifest_objects(ensure_manifest(manifest_pin))
    # ConfigFile applies the provider's default namespace ("default" unless the provider sets one).
    rendered.objects, rendered.unresolved_scope = normalize(objects, "default", scopes)
    return rendered


def _manifest_objects(path: Path) -> list[dict[str, Any]]:
    key = f"manifest:{_file_digest(path)}"
    if key not in _MEMORY:
        _MEMORY[key] = json.dumps(parse_documents(path.read_text()))
    return json.loads(_MEMORY[key])


def render_all(
    resources: list[tuple[str, str, str, dict[str, Any]]], *, kube_version: str, extra_objects: Iterable[dict[str, Any]] = ()
) -> list[Rendered]:
    """Render every (type, urn, name, inputs): first with the API versions of the CRDs among `extra_objects`,
    then again once the CRDs the renders themselves install are known (as a cluster has them from the second
    `up` on), until the set of API versions stops growing."""
    extra = list(extra_objects)
    previous: set[str] | None = None
    rendered: list[Rendered] = []
    first: list[Rendered] = []
    for _ in range(4):
        scopes = Scopes(extra + [obj for r in rendered for obj in r.objects])
        current = set(scopes.api_versions())
        if current == previous:
            break
        previous = current
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            rendered = list(pool.map(
                lambda item, scopes=scopes: render_resource(
                    item[0], item[1], item[2], item[3], kube_version=kube_version, scopes=scopes
                ),
                resources,
            ))
        first = first or rendered
    for initial, final in zip(first, rendered, strict=True):
        before = {initial.child_name(obj) for obj in initial.objects}
        final.capability_gated = sorted(final.child_name(obj) for obj in final.objects if final.child_name(obj) not in before)
    return rendered


def chart_pins_in_cache() -> dict[str, bool]:
    """Whether each chart pin of components/versions.py is a version present in the chart cache."""
    from offline.chart_cache import chart_file, manifest_file

    found = {key: chart_file(pin).is_file() for key, pin in versions.CHARTS.items()}
    found.update({key: manifest_file(pin).is_file() for key, pin in versions.MANIFESTS.items()})
    return found
