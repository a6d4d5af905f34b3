"""The checks the offline plan runs on a recorded stack, each returning what it checked and its problems.

Every check covers the program's own objects and every object its charts and manifests render (the
Recording holds both, `offline/render.py`):

- schema: every Kubernetes object against the Kubernetes 1.36 schema (strict) or its CRD schema;
- references: selectors, backends, scale targets, webhooks, listener certificates and the Secrets,
  ConfigMaps and ServiceAccounts pods use all resolve; no object is registered twice, and no Pulumi URN
  either (the engine fails the update on it; the SDK's mocks keep the last registration silently);
- charts: every chart and manifest is a pin of `components/versions.py` (exact version, https/oci source,
  nothing Bitnami) rendered from the cache, every values key exists in the chart, every hook is accounted
  for (`offline/chart_hooks.py`) and every object's namespace scope is known;
- providers: the stack file disables the default providers of kubernetes, aws and command (vault, harbor and
  ovh where the stack uses them; `pulumi:disable-default-providers`), the SDK of every provider package the
  stack uses is pinned in requirements.txt (what `make` and CI install), and every resource of those
  packages names its provider (under the CLI a resource without one fails the `up`; mocks would accept it);
- gitops: every object in a `delivery: gitops` site's namespace is registered with that site's render provider
  (`renderYamlToDirectory`), except the guard-rail kinds its AppProject denies Argo CD, which the cluster
  provider applies; no Secret is ever registered with a render provider (it would be written to disk in plain
  text) and none is in a gitops site's namespace (External Secrets makes them from OpenBao);
- runtime: no KubeArmorPolicy matches what the pods it selects execute at start, on a probe or a lifecycle hook,
  nor a writable volume they mount (offline/runtime_policy.py), in Audit as in Block;
- admission: the program's Kyverno ValidatingPolicies, compiled with a real CEL evaluator and evaluated as
  Kyverno 1.19 admits a CREATE (autogen for pod controllers included) on every Pod and pod controller in a
  namespace they select: no object of ours is denied and every expression compiles (offline/admission_check.py);
- capacity: every pod fits on a node at rest and at its autoscaler's maximum, every volume fits its ZFS
  pool and every data volume holds today's data (offline/capacity.py, offline/capacity_storage.py).

The plan and the tests run this same list; the policy pack is evaluated beside it by
`offline.policy_check` (it writes its own report).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline.admission_check import admission_check
from offline.capacity_report import capacity_check
from offline.chart_cache import ensure_chart, pin_for_chart, pin_for_manifest
from offline.chart_hooks import NOT_REVIEWED, hook_replacement
from offline.engine import Recording
from offline.references import check_references
from offline.render import CHART_TYPE, RENDERED_TYPES
from offline.runtime_policy import runtime_policy_check
from offline.schemas import CRD_SCHEMAS, validate_objects
from offline.stackfile import ROOT
from offline.summary import CHART_TYPES
from offline.values_check import check_values

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
BITNAMI = re.compile(r"bitnami", re.I)

CheckResult = dict[str, Any]


def schema_check(recording: Recording) -> CheckResult:
    objects = [r.inputs for r in recording.kubernetes_objects()]
    problems, skipped = validate_objects(objects)
    note = f"CRD schemas folder absent ({CRD_SCHEMAS}): {skipped} custom resources not validated" if skipped else None
    return {"checked": len(objects) - skipped, "problems": [str(p) for p in problems], "note": note}


def reference_check(recording: Recording) -> CheckResult:
    objects = [r.inputs for r in recording.kubernetes_objects()]
    charts = {r.name: r.inputs.get("namespace") or "default" for r in recording.resources if r.type in CHART_TYPES}
    problems = [str(p) for p in check_references(objects, charts)]
    # The engine refuses a second registration of a URN (same type, name and parent chain) and fails the update.
    problems += [f"duplicate resource URN {urn}: `pulumi up` fails on it (give one of them a unique name)"
                 for urn in dict.fromkeys(recording.duplicate_urns)]
    return {"checked": len(objects) + len(charts), "problems": problems}


def _walk_strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [item for key, child in value.items() for item in _walk_strings(child, f"{path}.{key}")]
    if isinstance(value, list):
        return [item for index, child in enumerate(value) for item in _walk_strings(child, f"{path}[{index}]")]
    return [(path, value)] if isinstance(value, str) else []


def _chart_problems(inputs: dict[str, Any]) -> list[str]:
    chart, version = str(inputs.get("chart", "")), str(inputs.get("version", ""))
    repo = str((inputs.get("repositoryOpts") or {}).get("repo", ""))
    problems = []
    if not EXACT_VERSION.match(version):
        problems.append(f"version {version!r} is not an exact version")
    source = chart if chart.startswith("oci://") else repo
    if not source.startswith(("https://", "oci://")):
        problems.append(f"repository {source!r} is not https:// or oci://")
    problems += [f"{where} {value!r} is Bitnami" for where, value in (("chart", chart), ("repository", repo)) if BITNAMI.search(value)]
    problems += [f"values{path} = {value!r} refers to Bitnami" for path, value in _walk_strings(inputs.get("values") or {}, "")
                 if BITNAMI.search(value)]
    pin = pin_for_chart(chart, version, repo)
    if pin is None:
        problems.append("is not a pin of components/versions.py CHARTS (build charts with components.k8s.chart())")
        return problems
    problems += [f"values key {key} does not exist in {pin.chart} {pin.version} (values.yaml or values.schema.json)"
                 for key in check_values(ensure_chart(pin), inputs.get("values") or {})]
    return problems


def chart_check(recording: Recording) -> CheckResult:
    """Pins, values keys, hooks and namespace scope of every chart and manifest, as rendered."""
    problems: list[str] = []
    notes: list[str] = []
    targets = [r for r in recording.resources if r.type in RENDERED_TYPES and r.remote]
    for record in targets:
        label = f"{record.type.split(':')[-1]} {record.name}"
        if record.type == CHART_TYPE:
            problems += [f"{label}: {problem}" for problem in _chart_problems(record.inputs)]
            chart_name = str(record.inputs.get("chart", "")).rsplit("/", 1)[-1]
        else:
            pin = pin_for_manifest(str(record.inputs.get("file", "")))
            if pin is None:
                problems.append(f"{label}: file {record.inputs.get('file')!r} is not a pin of components/versions.py MANIFESTS")
            chart_name = pin.name if pin else ""
        rendered = recording.renders.get(record.urn)
        if rendered is None:
            continue
        if rendered.error:
            problems.append(f"{label}: cannot be rendered as the provider would: {rendered.error}")
        if rendered.incomplete:
            notes.append(f"{label}: {rendered.incomplete}")
        for hook in rendered.hooks:
            if hook_replacement(chart_name, hook) == NOT_REVIEWED:
                problems.append(
                    f"{label}: hook {hook} is never applied by the provider and offline/chart_hooks.py says nothing of it"
                )
        problems += [f"{label}: namespace scope of {kind} is unknown (no CRD among the objects): the provider leaves "
                     "such objects without a namespace" for kind in rendered.unresolved_scope]
        if rendered.capability_gated:
            notes.append(f"{label}: {len(rendered.capability_gated)} object(s) render only once the program's CRDs exist "
                         f"(not on a first `up`): {', '.join(rendered.capability_gated[:5])}")
    return {"checked": len(targets), "problems": problems, "note": "; ".join(notes) or None}


# Packages whose default provider the stack files must disable (issue 8): a default provider takes its
# settings from the operator's environment (KUBECONFIG, AWS_PROFILE), not from the stack.
EXPLICIT_PROVIDER_PACKAGES = ("kubernetes", "aws", "command", "vault", "harbor", "ovh")
# Listed in every stack file; the others only where the stack registers resources of them (a site stack has none).
ALWAYS_DISABLED = ("kubernetes", "aws", "command")
DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers"
REQUIREMENTS = ROOT / "requirements.txt"


def disabled_default_providers(recording: Recording) -> set[str]:
    raw = recording.settings.config.get(DISABLE_DEFAULT_PROVIDERS)
    if raw is None:
        return set()
    try:
        value = json.loads(raw)
    except ValueError:
        return set()
    return {str(v) for v in value} if isinstance(value, list) else set()


@functools.cache
def provider_distributions() -> dict[str, str]:
    """Pulumi package -> the Python distribution of its SDK, from the `pulumi-plugin.json` each SDK ships
    (`pulumi_ovh/pulumi-plugin.json` names `ovh`: so `ovh` is `pulumi-ovh`, `harbor` `pulumiverse-harbor`)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if file.name == "pulumi-plugin.json" and len(file.parts) == 2:
                plugin = json.loads(file.read_text(encoding="utf-8") or "{}")
                if plugin.get("resource") and plugin.get("name"):
                    found[plugin["name"]] = dist.metadata["Name"].lower().replace("_", "-")
    return found


def pinned_requirements(path: Path = REQUIREMENTS) -> set[str]:
    """The distributions requirements.txt pins exactly (`name==version`)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line.split("==", 1)[0].strip().lower().replace("_", "-") for line in lines if "==" in line}


def provider_check(recording: Recording, requirements: Path = REQUIREMENTS) -> CheckResult:
    """Default providers disabled in the stack file, every resource of those packages with its own, and the SDK
    of every provider package the stack uses pinned in requirements.txt (what `make` and CI install)."""
    problems: list[str] = []
    disabled = disabled_default_providers(recording)
    used = {r.type.split(":", 1)[0] for r in recording.resources if r.custom} | {
        r.type.removeprefix("pulumi:providers:") for r in recording.resources if r.type.startswith("pulumi:providers:")}
    pinned = pinned_requirements(requirements)
    for package in sorted(used - {"pulumi"}):
        distribution = provider_distributions().get(package)
        if distribution is None or distribution not in pinned:
            problems.append(f"provider package {package} ({distribution or 'no installed SDK'}) is not pinned in "
                            f"{requirements.name} (the program registers its resources)")
    required = [p for p in EXPLICIT_PROVIDER_PACKAGES if p in ALWAYS_DISABLED or p in used]
    missing = [p for p in required if p not in disabled and "*" not in disabled]
    if missing:
        problems.append(f"{DISABLE_DEFAULT_PROVIDERS} in Pulumi.{recording.settings.stack}.yaml does not list "
                        f"{', '.join(missing)} (every resource must name its provider)")
    checked = 0
    for record in recording.resources:
        package = record.type.split(":", 1)[0]
        if not record.custom or package not in EXPLICIT_PROVIDER_PACKAGES or record.type.startswith("pulumi:providers:"):
            continue
        checked += 1
        if not record.provider:
            problems.append(f"{record.type} {record.name}: no explicit provider (the default {package} provider "
                            "is disabled, so `pulumi up` refuses it)")
    return {"checked": checked, "problems": problems}


RENDER_DIRECTORY = "renderYamlToDirectory"


def gitops_check(recording: Recording) -> CheckResult:
    """Objects of gitops sites with their site's render provider, guard rails with the cluster's, no Secret on disk."""
    from sites.gitops import PULUMI_KINDS

    renderers = {p.urn: p.inputs[RENDER_DIRECTORY] for p in recording.of_type("pulumi:providers:kubernetes") if p.inputs.get(RENDER_DIRECTORY)}
    # The directory ends in tenants/<site> (components/platform/gitops.py): the site's namespace is site-<site>.
    namespace_of = {urn: f"site-{directory.rstrip('/').rsplit('/', 1)[-1]}" for urn, directory in renderers.items()}
    render_for = {namespace: urn for urn, namespace in namespace_of.items()}
    problems: list[str] = []
    checked = 0
    for record in recording.kubernetes_objects():
        provider = record.provider.rsplit("::", 1)[0] if record.provider else None
        api_version, kind = str(record.inputs["apiVersion"]), str(record.inputs["kind"])
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        namespace = (record.inputs.get("metadata") or {}).get("namespace")
        what = f"{kind} {namespace}/{(record.inputs.get('metadata') or {}).get('name')} ({record.name})"
        if provider in renderers:
            checked += 1
            if kind == "Secret" and group == "":
                problems.append(f"{what}: a Secret registered with render provider {renderers[provider]} is written to disk in plain text")
            elif (group, kind) in PULUMI_KINDS:
                problems.append(f"{what}: rendered for Argo CD, whose AppProject denies {kind}: register it with the cluster provider")
            elif namespace != namespace_of[provider]:
                problems.append(f"{what}: rendered into {renderers[provider]}, whose Application syncs into {namespace_of[provider]} only")
        elif namespace in render_for and record.rendered_by is None:
            checked += 1
            if kind == "Secret" and group == "":
                problems.append(f"{what}: a Secret in a gitops site's namespace (External Secrets owns them there)")
            elif (group, kind) not in PULUMI_KINDS:
                problems.append(f"{what}: applied directly in a gitops site's namespace (its render provider renders it for Argo CD)")
    return {"checked": checked, "problems": problems}


CHECKS: dict[str, Callable[[Recording], CheckResult]] = {
    "schema": schema_check,
    "references": reference_check,
    "charts": chart_check,
    "providers": provider_check,
    "gitops": gitops_check,
    "runtime": runtime_policy_check,
    "admission": admission_check,
    "capacity": capacity_check,
}


def run_checks(recording: Recording) -> dict[str, CheckResult]:
    return {name: fn(recording) for name, fn in CHECKS.items()}
