"""What a recorded run amounts to: resources by layer and type, and compute per layer.

Compute is summed over the pod templates of every workload, the program's own and every one its charts
render (offline/render.py): the effective request of a pod (the larger of the sum over its containers and
the largest init container) times its replicas; a DaemonSet counts once per node. Pods that operators
create at run time (an Envoy proxy from an EnvoyProxy, a database from its custom resource) are counted by
the capacity model, not here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from components.config.types import parse_quantity
from offline.engine import Recording
from offline.references import pod_template

CHART_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release")
RENDERED_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile")
RESOURCE_NAMES = ("cpu", "memory")


def _pod_totals(template: dict[str, Any], which: str) -> dict[str, Decimal]:
    spec = template.get("spec") or {}

    def amount(container: dict[str, Any], resource: str) -> Decimal:
        value = ((container.get("resources") or {}).get(which) or {}).get(resource)
        return parse_quantity(str(value)) if value is not None else Decimal(0)

    totals = {}
    for resource in RESOURCE_NAMES:
        regular = sum((amount(c, resource) for c in spec.get("containers") or []), Decimal(0))
        init = max((amount(c, resource) for c in spec.get("initContainers") or []), default=Decimal(0))
        totals[resource] = max(regular, init)
    return totals


def replicas_of(obj: dict[str, Any], nodes: int) -> int:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "DaemonSet":
        return nodes
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return int(spec.get("replicas", 1))
    if kind == "Job":
        return int(spec.get("parallelism", 1))
    if kind == "CronJob":
        return int(((spec.get("jobTemplate") or {}).get("spec") or {}).get("parallelism", 1))
    return 1


def format_cpu(cores: Decimal) -> str:
    millis = int((cores * 1000).to_integral_value())
    return f"{millis}m" if millis % 1000 else str(millis // 1000)


def format_memory(size: Decimal) -> str:
    for suffix, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= factor:
            value = size / factor
            return f"{value.quantize(Decimal('0.01')).normalize():f}{suffix}"
    return f"{int(size)}"


def node_count(recording: Recording) -> int:
    hosts = len(recording.of_type("magento:hosts:Host"))
    if hosts:
        return hosts
    failure_domains = recording.stack_outputs.get("failureDomains", {}).get("value")
    return int(failure_domains or 1)


def summarize(recording: Recording) -> dict[str, Any]:
    nodes = node_count(recording)
    by_layer: dict[str, Counter[str]] = defaultdict(Counter)
    compute: dict[str, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: {which: dict.fromkeys(RESOURCE_NAMES, Decimal(0)) for which in ("requests", "limits")}
    )
    charts = []
    for record in recording.resources:
        layer = recording.layer_of(record)
        by_layer[layer][record.type] += 1
        if record.type in RENDERED_TYPES and record.remote:
            repo = (record.inputs.get("repositoryOpts") or {}).get("repo", "")
            rendered = recording.renders.get(record.urn)
            charts.append({
                "layer": layer, "name": record.inputs.get("name", record.name),
                "chart": record.inputs.get("chart") or record.inputs.get("file"),
                "version": record.inputs.get("version") or (rendered.source.split(" ")[1] if rendered else None),
                "repository": repo, "namespace": record.inputs.get("namespace") or "default",
                "objects": len(rendered.objects) if rendered else 0,
                "hooks": len(rendered.hooks) if rendered else 0,
            })
        if record.is_kubernetes_object:
            template = pod_template(record.inputs)
            if template is not None:
                replicas = replicas_of(record.inputs, nodes)
                for which in ("requests", "limits"):
                    for resource, value in _pod_totals(template, which).items():
                        compute[layer][which][resource] += value * replicas
    layers = sorted(set(by_layer) | set(compute))
    return {
        "stack": recording.settings.stack,
        "nodes": nodes,
        "resources": len(recording.resources),
        "chartObjects": len(recording.rendered_objects()),
        "layers": {
            layer: {
                "resources": sum(by_layer[layer].values()),
                "byType": dict(sorted(by_layer[layer].items())),
                "compute": {
                    which: {
                        "cpu": format_cpu(compute[layer][which]["cpu"]) if layer in compute else "0",
                        "memory": format_memory(compute[layer][which]["memory"]) if layer in compute else "0",
                    }
                    for which in ("requests", "limits")
                },
            }
            for layer in layers
        },
        "charts": sorted(charts, key=lambda c: (c["layer"], c["name"])),
    }


def to_markdown(summary: dict[str, Any], checks: dict[str, Any]) -> str:
    lines = [
        f"# Offline plan: stack `{summary['stack']}`",
        "",
        "This is an offline plan: the program's own `build()` run under the Pulumi SDK's mocks. Nothing was",
        "contacted and nothing was changed; `pulumi preview` with the CLI shows the diff against real state.",
        "",
        f"{summary['resources']} resources ({summary.get('chartObjects', 0)} of them objects rendered by charts and manifests), "
        f"{summary['nodes']} node(s).",
        "",
        "## Resources and compute by layer",
        "",
        "Compute is summed over every workload, ours and the charts' (replicas included; a DaemonSet once per node).",
        "",
        "| layer | resources | CPU requests | CPU limits | memory requests | memory limits |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for layer, info in summary["layers"].items():
        c = info["compute"]
        lines.append(
            f"| {layer} | {info['resources']} | {c['requests']['cpu']} | {c['limits']['cpu']} | "
            f"{c['requests']['memory']} | {c['limits']['memory']} |"
        )
    lines += ["", "## Resources by type", "", "| layer | type | count |", "| --- | --- | ---: |"]
    for layer, info in summary["layers"].items():
        lines += [f"| {layer} | `{kind}` | {count} |" for kind, count in info["byType"].items()]
    lines += ["", "## Charts", ""]
    if summary["charts"]:
        lines += ["| layer | release | chart | version | repository | namespace | objects | hooks left out |",
                  "| --- | --- | --- | --- | --- | --- | ---: | ---: |"]
        lines += [
            f"| {c['layer']} | {c['name']} | {c['chart']} | {c['version']} | {c['repository']} | {c['namespace']} | "
            f"{c['objects']} | {c['hooks']} |"
            for c in summary["charts"]
        ]
        lines += ["", "Each chart's objects, values and hooks (with what replaces them) are under `charts/<release>/`."]
    else:
        lines.append("None in this stack.")
    if "capacity" in summary:
        from offline.capacity_report import markdown

        lines += ["", *markdown(summary["capacity"])]
    lines += ["", "## Checks", ""]
    for name, result in checks.items():
        status = "passed" if not result["problems"] else f"{len(result['problems'])} problem(s)"
        lines.append(f"- {name}: {result['checked']} checked, {status}")
        lines += [f"  - {problem}" for problem in result["problems"]]
        if result.get("note"):
            lines.append(f"  - note: {result['note']}")
    if "policy" in summary:
        policy = summary["policy"]
        status = "passed" if policy["passed"] else f"{policy['mandatory']} mandatory violation(s)"
        lines.append(
            f"- policy (CrossGuard pack): {policy['policies']} policies, {policy['violations']} violation(s), {status}; see policy.md"
        )
    return "\n".join(lines) + "\n"
