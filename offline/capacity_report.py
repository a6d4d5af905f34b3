"""The capacity and storage model as the plan reports it: the `capacity` check, the summary's tables and
the lines `make plan` prints.

Figures: "at rest" is every workload at its configured replicas (an autoscaled one at its minimum);
"at maximum" is every autoscaler at its maximum at once, the worst case the nodes must hold. Head-room is
allocatable less the requests at maximum. "More stores" counts stores of each size class whose whole quota
(what they may request at their own maxima) still fits in the head-room of the nodes a store may run on.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from components.config.capacity import size_classes
from components.config.types import parse_quantity
from offline.capacity import CapacityModel, Node, model
from offline.capacity_pods import Workload
from offline.capacity_storage import StorageReport, storage_report
from offline.engine import Recording
from offline.summary import format_cpu, format_memory

_CACHE = "_capacity_model"


def capacity_of(recording: Recording) -> tuple[CapacityModel, StorageReport]:
    """The model of a recording, computed once (the check and the summary share it)."""
    cached = getattr(recording, _CACHE, None)
    if cached is None:
        built = model(recording)
        cached = (built, storage_report(built))
        setattr(recording, _CACHE, cached)
    return cached


def _count(workload: Workload, placed: dict[str, list[str]], phase: str) -> int:
    if workload.daemon:
        return len(placed.get(workload.label, []))
    return workload.replicas if phase == "rest" else workload.maximum


def _totals(groups: list[Workload], cap: CapacityModel, key: str) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for w in groups:
        name = getattr(w, key)
        if name is None:
            continue
        rest, top = _count(w, cap.rest.placed, "rest"), _count(w, cap.maximum.placed, "maximum")
        row = out[name]
        row["pods"] += rest
        row["cpu"] += w.cpu * rest
        row["memory"] += w.memory * rest
        row["cpu_limit"] += w.cpu_limit * rest
        row["memory_limit"] += w.memory_limit * rest
        row["cpu_max"] += w.cpu * top
        row["memory_max"] += w.memory * top
        row["claims"] += sum((c[1] for c in w.claims), Decimal(0)) * rest
    return out


def _quota_problems(cap: CapacityModel, sites: dict[str, dict[str, Decimal]]) -> list[str]:
    problems = []
    for site in cap.config.sites:
        row = sites.get(site.name)
        if row is None:
            continue
        for resource, label in (("cpu", "CPU"), ("memory", "memory")):
            quota = parse_quantity(getattr(site.quota, resource))
            fmt = format_cpu if resource == "cpu" else format_memory
            for figure, when in ((row[resource], "at rest"), (row[f"{resource}_max"], "at its autoscalers' maxima")):
                if figure > quota:
                    problems.append(f"site {site.name}: requests {fmt(figure)} {label} {when}, more than its quota "
                                    f"(sites[].quota.{resource} {getattr(site.quota, resource)}): the ResourceQuota refuses those pods")
                    break
    return problems


def store_nodes(nodes: list[Node]) -> list[Node]:
    """Nodes a store's pods (which tolerate nothing) may run on."""
    return [n for n in nodes if not any(t["effect"] in ("NoSchedule", "NoExecute") for t in n.taints)]


def fits(cap: CapacityModel, storage: StorageReport) -> dict[str, dict[str, Any]]:
    nodes = store_nodes(cap.maximum.nodes)
    free_cpu = sum((max(n.free_cpu, Decimal(0)) for n in nodes), Decimal(0))
    free_memory = sum((max(n.free_memory, Decimal(0)) for n in nodes), Decimal(0))
    names = {n.name for n in nodes}
    pools = [p for p in storage.pools if p.node in names]
    free_disk = sum((max(p.usable * storage.warn_percent / 100 - p.claimed, Decimal(0)) for p in pools), Decimal(0)) if pools else None
    out = {}
    for name, size in size_classes().items():
        limits = {"CPU": int(free_cpu // size.cpu_max), "memory": int(free_memory // size.memory_max)}
        if free_disk is not None:
            limits["storage"] = int(free_disk // parse_quantity(size.storage))
        binding = min(limits, key=lambda k: limits[k])
        out[name] = {"more": limits[binding], "boundBy": binding,
                     "atRest": f"{format_cpu(size.cpu_rest)} CPU / {format_memory(size.memory_rest)}",
                     "atMaximum": f"{format_cpu(size.cpu_max)} CPU / {format_memory(size.memory_max)} / {size.storage}",
                     "throughput": size.throughput, "basis": size.basis, "catalog": size.catalog}
    return out


def _fmt_row(row: dict[str, Decimal]) -> dict[str, str]:
    return {
        "pods": str(int(row["pods"])), "cpuRequests": format_cpu(row["cpu"]), "memoryRequests": format_memory(row["memory"]),
        "cpuLimits": format_cpu(row["cpu_limit"]), "memoryLimits": format_memory(row["memory_limit"]),
        "cpuAtMaximum": format_cpu(row["cpu_max"]), "memoryAtMaximum": format_memory(row["memory_max"]),
        "claims": format_memory(row["claims"]),
    }


def _node_classes(cap: CapacityModel) -> dict[str, dict[str, str]]:
    rest = {n.name: n for n in cap.rest.nodes}
    grouped: dict[str, list[Node]] = defaultdict(list)
    for node in cap.maximum.nodes:
        grouped[node.node_class].append(node)
    out = {}
    for name, nodes in grouped.items():
        cpu, memory = sum(n.cpu for n in nodes), sum(n.memory for n in nodes)
        used_cpu, used_memory = sum(n.used_cpu for n in nodes), sum(n.used_memory for n in nodes)
        out[name] = {
            "nodes": ", ".join(n.name for n in nodes),
            "capacity": f"{format_cpu(sum(n.capacity_cpu for n in nodes))} CPU / {format_memory(sum(n.capacity_memory for n in nodes))}",
            "reserved": "; ".join(f"{k} {v}" for k, v in nodes[0].reserved.items()) or "n/a (allocatable given)",
            "allocatable": f"{format_cpu(cpu)} CPU / {format_memory(memory)}",
            "atRest": f"{format_cpu(sum(rest[n.name].used_cpu for n in nodes))} CPU / {format_memory(sum(rest[n.name].used_memory for n in nodes))}",
            "atMaximum": f"{format_cpu(used_cpu)} CPU / {format_memory(used_memory)}",
            "headroom": f"{format_cpu(cpu - used_cpu)} CPU / {format_memory(memory - used_memory)}",
            "used": f"{used_cpu * 100 / cpu:.0f}% CPU / {used_memory * 100 / memory:.0f}% memory" if cpu and memory else "-",
        }
    return out


def capacity_summary(recording: Recording) -> dict[str, Any]:
    cap, storage = capacity_of(recording)
    if cap.missing:
        return {"missing": cap.missing}
    sites = _totals(cap.groups, cap, "site")
    return {
        "nodeClasses": _node_classes(cap),
        "layers": {k: _fmt_row(v) for k, v in sorted(_totals(cap.groups, cap, "layer").items())},
        "sites": {k: {**_fmt_row(v), "quota": next((f"{s.quota.cpu} CPU / {s.quota.memory}" for s in cap.config.sites if s.name == k), "-")}
                  for k, v in sorted(sites.items())},
        "moreStores": fits(cap, storage),
        "storage": {
            "horizonDays": storage.horizon_days, "warnPercent": storage.warn_percent,
            "pools": {p.node: {"usable": format_memory(p.usable), "claimed": format_memory(p.claimed), "percent": f"{p.percent:.0f}%"}
                      for p in storage.pools},
            "dataVolumes": {p.service: {"volume": format_memory(p.volume), "now": format_memory(p.now), "later": format_memory(p.later),
                                        "percent": f"{p.percent:.0f}%", "basis": p.basis} for p in storage.projections},
            "warnings": storage.warnings,
        },
        "operatorPods": sorted({w.source for w in cap.groups if w.source.startswith("operator")}),
        "nodeLoss": {node: ("everything at rest fits on the other nodes" if not lost else f"{len(lost)} workload(s) short of room")
                     for node, lost in cap.node_loss.items()},
        "warnings": loss_warnings(cap),
        "accepted": [n for n in (capacity_check(recording)["note"] or "").split("; ") if n.startswith("accepted (")],
    }


def loss_warnings(cap: CapacityModel) -> list[str]:
    return [f"capacity: without {node} (a kured reboot or a failure), {lost[0]}" + (f" (and {len(lost) - 1} more)" if len(lost) > 1 else "")
            for node, lost in cap.node_loss.items() if lost]


def capacity_check(recording: Recording) -> dict[str, Any]:
    """The plan's `capacity` check: compute and storage problems fail the plan; warnings are notes."""
    cap, storage = capacity_of(recording)
    if cap.missing:
        return {"checked": 0, "problems": [],
                "note": "capacity not modelled: set " + "; ".join(cap.missing) + " (docs/capacity.md)"}
    sites = _totals(cap.groups, cap, "site")
    problems, notes = [], []
    accepted = {a.workload: a.reason for a in cap.config.capacity.accepted}
    used: set[str] = set()
    for problem in cap.problems + _quota_problems(cap, sites) + storage.problems:
        match = next((w for w in accepted if problem.startswith(f"{w} (")), None)
        if match is None:
            problems.append(problem)
        else:
            used.add(match)
            notes.append(f"accepted ({accepted[match]}): {problem}")
    problems += [f"capacity.accepted: {w!r} matches no capacity problem any more: remove it" for w in accepted if w not in used]
    return {"checked": len(cap.groups) + len(storage.pools) + len(storage.projections), "problems": problems,
            "note": "; ".join(notes + loss_warnings(cap) + storage.warnings) or None}


def console_lines(summary: dict[str, Any]) -> list[str]:
    """The short capacity table `make plan` prints."""
    if "nodeClasses" not in summary:
        return [f"  capacity: not modelled (set {'; '.join(summary.get('missing', []))})"]
    lines = ["  capacity (requests; at maximum = every autoscaler at its maximum):",
             f"    {'node class':<22} {'allocatable':<22} {'at rest':<22} {'at maximum':<22} head-room"]
    for name, row in summary["nodeClasses"].items():
        lines.append(f"    {name:<22} {row['allocatable']:<22} {row['atRest']:<22} {row['atMaximum']:<22} {row['headroom']}")
    more = summary["moreStores"]
    lines.append("    more stores that fit: " + ", ".join(f"{v['more']} {k} ({v['boundBy']})" for k, v in more.items()))
    for name, pool in summary["storage"]["pools"].items():
        lines.append(f"    ZFS pool {name}: {pool['claimed']} of {pool['usable']} claimed ({pool['percent']})")
    for node, verdict in summary["nodeLoss"].items():
        lines.append(f"    without {node}: {verdict}")
    lines += [f"    warning: {w}" for w in summary["warnings"] + summary["storage"]["warnings"]]
    lines += [f"    {a}" for a in summary["accepted"]]
    return lines


def markdown(summary: dict[str, Any]) -> list[str]:
    if "nodeClasses" not in summary:
        return ["## Capacity", "", f"Not modelled: set {'; '.join(summary.get('missing', []))} (docs/capacity.md).", ""]
    lines = ["## Capacity", "",
             "Requests against allocatable (capacity less the kubelet's reservations: system with the ZFS ARC, kube, eviction). "
             "At maximum = every autoscaler at its maximum at once. See docs/capacity.md.", "",
             "| node class | nodes | capacity | reserved | allocatable | at rest | at maximum | head-room | used at maximum |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in summary["nodeClasses"].items():
        lines.append(f"| {name} | {r['nodes']} | {r['capacity']} | {r['reserved']} | {r['allocatable']} | {r['atRest']} | "
                     f"{r['atMaximum']} | {r['headroom']} | {r['used']} |")
    for title, rows, extra in (("layer", summary["layers"], False), ("site", summary["sites"], True)):
        lines += ["", f"| {title} | pods at rest | CPU requests | memory requests | CPU limits | memory limits | CPU at maximum | "
                  f"memory at maximum | volumes |{' quota |' if extra else ''}",
                  "| --- " + "| ---: " * 8 + ("| ---: " if extra else "") + "|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['pods']} | {r['cpuRequests']} | {r['memoryRequests']} | {r['cpuLimits']} | {r['memoryLimits']} | "
                         f"{r['cpuAtMaximum']} | {r['memoryAtMaximum']} | {r['claims']} |" + (f" {r['quota']} |" if extra else ""))
        if not rows:
            lines.append(f"| (no {title} runs pods) |" + " |" * (9 if extra else 8))
    if summary["nodeLoss"]:
        lines += ["", "### Losing a node", "", "What runs at rest, placed again without each node (a kured drain or a failure); "
                  "quorum members that cannot double up are expected to wait and are not counted.", "",
                  "| without | result |", "| --- | --- |"]
        lines += [f"| {node} | {verdict} |" for node, verdict in summary["nodeLoss"].items()]
        lines += [""] + [f"- warning: {w}" for w in summary["warnings"]]
    lines += ["", "### More stores that fit", "",
              "Each class as `sites[].size` sizes a store's tiers (components/config/site_tiers.py); a store counts at its autoscalers' "
              "maxima and its default volume quota.", "",
              "| size class | requests at rest | at maximum (CPU / memory / volumes) | more that fit | bound by | catalog | "
              "expected throughput | rests on |", "| --- | ---: | ---: | ---: | --- | --- | --- | --- |"]
    for name, r in summary["moreStores"].items():
        lines.append(f"| {name} | {r['atRest']} | {r['atMaximum']} | {r['more']} | {r['boundBy']} | {r['catalog']} | "
                     f"{r['throughput']} | {r['basis']} |")
    storage = summary["storage"]
    lines += ["", "### Storage", "", f"Projected {storage['horizonDays']} days ahead; warning past {storage['warnPercent']}%.", "",
              "| ZFS pool | usable | claimed | claimed % |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {k} | {v['usable']} | {v['claimed']} | {v['percent']} |" for k, v in storage["pools"].items()]
    lines += ["", "| data volume (per replica) | size | needed now | needed at horizon | at horizon % | assumptions |",
              "| --- | ---: | ---: | ---: | ---: | --- |"]
    lines += [f"| {k} | {v['volume']} | {v['now']} | {v['later']} | {v['percent']} | {v['basis']} |" for k, v in storage["dataVolumes"].items()]
    lines += [""] + [f"- warning: {w}" for w in storage["warnings"]]
    if summary.get("accepted"):
        lines += ["", "### Accepted problems (capacity.accepted)", ""] + [f"- {a}" for a in summary["accepted"]]
    if summary.get("operatorPods"):
        lines += ["", "Operator-created pods counted: " + "; ".join(summary["operatorPods"]) + "."]
    return [*lines, ""]
