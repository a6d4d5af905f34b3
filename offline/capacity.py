"""The capacity model of the plan: will the stack fit on its servers, now and at every autoscaler's maximum?

Nodes come from the configuration: each host's `cpus` and `memory`, less what the hosts layer reserves
(the very KubeletConfiguration and per-host patch `hosts/kubeadm.py` renders: kubeReserved, systemReserved
with the host's ZFS ARC cap added, and the hard eviction threshold), give the node's allocatable, exactly as
the kubelet computes it (capacity - kubeReserved - systemReserved - evictionHard). An existing cluster
(`cluster.existing.nodeCpu` / `nodeMemory`) gives its nodes' allocatable directly.

Pods come from the recording (`offline/capacity_pods.py`). They are placed as the scheduler's filters
would allow: taints and tolerations, node selectors and required node affinity, required anti-affinity
on themselves, hard topology spread (with the default `nodeTaintsPolicy: Ignore`: a tainted node still
counts as a domain, so a witness holding no replica caps the skew), and nodes with a ZFS pool for pods
that claim volumes. DaemonSets go first on every node they may run on; the other groups go largest first,
each replica on the feasible node with the most room. Then every autoscaled group grows to its maximum.

The plan fails (`capacity` check) when a replica at rest cannot be placed (requests exceed allocatable),
when a single pod is larger than every node it may run on, or when the autoscalers' maxima cannot all be
placed; each problem names the biggest consumers. The report gives the table per layer, per site and per
node class, the head-room, and how many more stores of each size class fit (`components/config/capacity.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from components.config import ConfigError
from components.config.loader import STRUCTURED, validate
from components.config.model import StackConfig
from components.config.types import parse_quantity
from hosts import kubeadm
from offline.capacity_pods import HOST_KEY, Workload, workloads
from offline.engine import Recording
from offline.summary import format_cpu, format_memory, node_count

ZONE_KEY = "topology.kubernetes.io/zone"


@dataclass
class Node:
    name: str
    node_class: str
    cpu: Decimal  # allocatable
    memory: Decimal
    capacity_cpu: Decimal
    capacity_memory: Decimal
    reserved: dict[str, str]
    taints: list[dict[str, str]]
    labels: dict[str, str]
    pool: Decimal | None  # usable bytes of its ZFS pool (None: no pool, or unknown on an existing cluster)
    has_pool: bool
    used_cpu: Decimal = Decimal(0)
    used_memory: Decimal = Decimal(0)
    pods: dict[str, int] = field(default_factory=dict)  # workload label -> replicas here

    @property
    def free_cpu(self) -> Decimal:
        return self.cpu - self.used_cpu

    @property
    def free_memory(self) -> Decimal:
        return self.memory - self.used_memory


def stack_config(recording: Recording) -> StackConfig:
    """The validated configuration the recording was made with (the same validation the program ran)."""
    prefix = f"{recording.settings.project}:"
    raw: dict[str, Any] = {}
    for key, value in recording.settings.config.items():
        if not key.startswith(prefix) or key in (f"{prefix}{s}" for s in recording.settings.secret_keys):
            continue
        short = key[len(prefix):]
        if short in STRUCTURED:
            raw[short] = json.loads(value)
        elif short in ("environment", "protectStateful"):
            raw[short] = value
    return validate(raw)


def _zfs_usable(disk_size: str) -> Decimal:
    """Usable bytes of a two-disk mirror: one disk's size, less the pool's slop space (1/32, spa_slop_shift=5)."""
    raw = parse_quantity(disk_size)
    return raw - raw / 32


def node_class(roles: list[str]) -> str:
    if "witness" in roles:
        return "witness"
    if "worker" in roles:
        return "control-plane+worker" if "control-plane" in roles else "worker"
    return "control-plane"


def nodes_of(config: StackConfig) -> tuple[list[Node], list[str]]:
    """The nodes with their allocatable, and the settings that are missing for the model."""
    missing: list[str] = []
    nodes: list[Node] = []
    if config.cluster.mode == "existing":
        existing = config.cluster.existing
        if existing is None or existing.node_cpu is None or existing.node_memory is None:
            return [], ["cluster.existing.nodeCpu and cluster.existing.nodeMemory (allocatable of each node)"]
        for index in range(existing.failure_domains):
            cpu, memory = parse_quantity(existing.node_cpu), parse_quantity(existing.node_memory)
            nodes.append(Node(
                name=f"node-{index + 1}", node_class="existing", cpu=cpu, memory=memory, capacity_cpu=cpu,
                capacity_memory=memory, reserved={}, taints=[], labels={HOST_KEY: f"node-{index + 1}", ZONE_KEY: f"zone-{index + 1}", "kubernetes.io/os": "linux"},
                pool=None, has_pool=True,
            ))
        return nodes, missing
    kubelet = kubeadm.kubelet_configuration(config.cluster)
    for index, host in enumerate(config.hosts):
        if host.cpus is None or host.memory is None:
            missing.append(f"hosts[{index}].cpus and hosts[{index}].memory")
            continue
        patch = yaml.safe_load(kubeadm.kubelet_patch(host, config.cluster))
        system = {**kubelet["systemReserved"], **patch["systemReserved"]}
        kube, eviction = kubelet["kubeReserved"], kubelet["evictionHard"]["memory.available"]
        capacity_cpu, capacity_memory = Decimal(host.cpus), parse_quantity(host.memory)
        cpu = capacity_cpu - parse_quantity(system["cpu"]) - parse_quantity(kube["cpu"])
        memory = capacity_memory - parse_quantity(system["memory"]) - parse_quantity(kube["memory"]) - parse_quantity(eviction)
        labels = {**kubeadm.node_labels(host), HOST_KEY: host.name, "kubernetes.io/os": "linux"}
        if "control-plane" in host.roles:
            labels["node-role.kubernetes.io/control-plane"] = ""
        pool = None
        if host.zfs is not None and host.zfs.disk_size is not None:
            pool = _zfs_usable(host.zfs.disk_size)
        elif host.zfs is not None:
            missing.append(f"hosts[{index}].zfs.diskSize")
        nodes.append(Node(
            name=host.name, node_class=node_class(list(host.roles)), cpu=cpu, memory=memory, capacity_cpu=capacity_cpu,
            capacity_memory=capacity_memory,
            reserved={"system": f"{system['cpu']} CPU, {system['memory']} (ZFS ARC {host.zfs.arc_max_gib if host.zfs else 0}Gi included)",
                      "kube": f"{kube['cpu']} CPU, {kube['memory']}", "eviction": eviction},
            taints=kubeadm.taints(host), labels=labels, pool=pool, has_pool=host.zfs is not None,
        ))
    return nodes, missing


# ------------------------------------------------------------------------------------------ filters

def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if not t.get("key") and t.get("operator") == "Exists":
            return True
        if t.get("key") != taint["key"]:
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _expression(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return True  # Gt / Lt: not used by anything we render


def selects(workload: Workload, node: Node) -> bool:
    """nodeSelector and required node affinity (what topology spread honours by default)."""
    if any(node.labels.get(k) != v for k, v in workload.node_selector.items()):
        return False
    return not workload.node_terms or any(all(_expression(e, node.labels) for e in term) for term in workload.node_terms)


def eligible(workload: Workload, node: Node) -> bool:
    if not selects(workload, node):
        return False
    if any(t["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(workload.tolerations, t) for t in node.taints):
        return False
    return not (workload.claims and not node.has_pool)


def _spread_allows(workload: Workload, node: Node, nodes: list[Node]) -> bool:
    for key in workload.anti_affinity_keys:
        value = node.labels.get(key)
        if value is None or any(n.labels.get(key) == value and n.pods.get(workload.label) for n in nodes):
            return False
    for constraint in workload.spread:
        key, skew = constraint.get("topologyKey", HOST_KEY), int(constraint.get("maxSkew", 1))
        honour_taints = constraint.get("nodeTaintsPolicy") == "Honor"
        domains: dict[str, int] = {}
        for n in nodes:
            if key in n.labels and selects(workload, n) and (not honour_taints or eligible(workload, n)):
                domains[n.labels[key]] = domains.get(n.labels[key], 0) + n.pods.get(workload.label, 0)
        if node.labels.get(key) not in domains:
            return False
        if domains[node.labels[key]] + 1 - min(domains.values()) > skew:
            return False
    return True


def _fits(workload: Workload, node: Node) -> bool:
    return workload.cpu <= node.free_cpu and workload.memory <= node.free_memory


def _room(node: Node) -> Decimal:
    cpu = node.free_cpu / node.cpu if node.cpu else Decimal(0)
    memory = node.free_memory / node.memory if node.memory else Decimal(0)
    return min(cpu, memory)


def _put(workload: Workload, node: Node) -> None:
    node.used_cpu += workload.cpu
    node.used_memory += workload.memory
    node.pods[workload.label] = node.pods.get(workload.label, 0) + 1


# ---------------------------------------------------------------------------------------- placement

@dataclass
class Placement:
    nodes: list[Node]
    placed: dict[str, list[str]]  # workload label -> node names, one per replica
    problems: list[str]


def _consumers(nodes: list[Node], groups: dict[str, Workload], count: int = 3) -> str:
    totals = []
    for label, workload in groups.items():
        replicas = sum(n.pods.get(label, 0) for n in nodes)
        if replicas:
            totals.append((workload.memory * replicas, workload.cpu * replicas, label, replicas))
    totals.sort(reverse=True)
    return "; ".join(f"{label} ({replicas} x {format_cpu(cpu / replicas)} CPU / {format_memory(memory / replicas)})"
                     for memory, cpu, label, replicas in totals[:count])


def _free(nodes: list[Node]) -> str:
    return ", ".join(f"{n.name} {format_cpu(max(n.free_cpu, Decimal(0)))} CPU / {format_memory(max(n.free_memory, Decimal(0)))}"
                     for n in nodes)


def place(nodes: list[Node], groups: list[Workload]) -> Placement:
    """Place every replica at rest, then every autoscaled group up to its maximum."""
    by_label = {w.label: w for w in groups}
    placed: dict[str, list[str]] = {w.label: [] for w in groups}
    problems: list[str] = []

    def one(workload: Workload, phase: str, index: int, total: int) -> bool:
        candidates = [n for n in nodes if eligible(workload, n)]
        where = f"{workload.label} ({workload.source}, {format_cpu(workload.cpu)} CPU / {format_memory(workload.memory)} per pod)"
        if not candidates:
            problems.append(f"{where}: no node it may run on (taints, node selector or affinity exclude every node)")
            return False
        largest = max(candidates, key=lambda n: (n.cpu, n.memory))
        if not any(workload.cpu <= n.cpu and workload.memory <= n.memory for n in candidates):
            problems.append(f"{where}: a single pod is larger than any node it may run on "
                            f"(largest: {largest.name}, {format_cpu(largest.cpu)} CPU / {format_memory(largest.memory)} allocatable)")
            return False
        spread_ok = [n for n in candidates if _spread_allows(workload, n, nodes)]
        fitting = [n for n in spread_ok if _fits(workload, n)]
        if not fitting:
            if not spread_ok:
                reason = ("its required anti-affinity or hard topology spread allows no further node "
                          f"({', '.join(workload.anti_affinity_keys + [c.get('topologyKey', HOST_KEY) for c in workload.spread])}"
                          "; a tainted node the pods do not tolerate still counts as a spread domain unless nodeTaintsPolicy is Honor)")
            else:
                reason = (f"requests exceed the free allocatable of every node it may run on (free: {_free(spread_ok)}); "
                          f"biggest consumers there: {_consumers(spread_ok, by_label)}")
            at = f"replica {index} of {total}" + (f" at its autoscaler maximum ({workload.autoscaler})" if phase == "maximum" else "")
            problems.append(f"{where}: {at} cannot be scheduled: {reason}")
            return False
        node = max(fitting, key=lambda n: (_room(n), n.name))
        _put(workload, node)
        placed[workload.label].append(node.name)
        return True

    daemons = [w for w in groups if w.daemon]
    for workload in daemons:
        for node in nodes:
            if eligible(workload, node):
                if not _fits(workload, node):
                    problems.append(f"{workload.label} ({workload.source}): its DaemonSet pod does not fit on {node.name} "
                                    f"({format_cpu(workload.cpu)} CPU / {format_memory(workload.memory)}; free {_free([node])})")
                _put(workload, node)
                placed[workload.label].append(node.name)
    others = sorted((w for w in groups if not w.daemon), key=lambda w: (w.memory, w.cpu, w.label), reverse=True)
    failed: set[str] = set()
    for phase in ("rest", "maximum"):
        for workload in others:
            start, stop = (0, workload.replicas) if phase == "rest" else (workload.replicas, workload.maximum)
            for index in range(start, stop):
                if workload.label in failed or not one(workload, phase, index + 1, stop):
                    failed.add(workload.label)
                    break
    return Placement(nodes, placed, problems)


@dataclass
class CapacityModel:
    config: StackConfig
    nodes: list[Node]
    groups: list[Workload]
    unmounted: list[tuple[str, Decimal, str | None, str]]
    rest: Placement
    maximum: Placement
    missing: list[str]
    node_loss: dict[str, list[str]] = field(default_factory=dict)  # node -> what no longer fits at rest without it

    @property
    def problems(self) -> list[str]:
        if self.missing:
            return []
        seen = set(self.rest.problems)
        return self.rest.problems + [p for p in self.maximum.problems if p not in seen]


def model(recording: Recording) -> CapacityModel:
    config = stack_config(recording)
    groups, unmounted = workloads(recording, node_count(recording))
    nodes, missing = nodes_of(config)
    at_rest = [Workload(**{**w.__dict__, "maximum": w.replicas}) for w in groups]
    rest = place(nodes_of(config)[0], at_rest)
    maximum = place(nodes, groups)
    return CapacityModel(config, nodes, groups, unmounted, rest, maximum, missing, node_loss(config, at_rest, rest))


SHORT_OF_ROOM = "requests exceed the free allocatable"


def node_loss(config: StackConfig, at_rest: list[Workload], rest: Placement) -> dict[str, list[str]]:
    """For each node that runs workloads: the replicas at rest that find no room on the others while it is
    gone (a kured reboot drains it; a failure loses it). Replicas that cannot go elsewhere because of their
    anti-affinity or spread (quorum members) are the degradation the data services are sized for, and are
    not listed; pods short of CPU or memory are."""
    if rest.problems or sum(1 for n in rest.nodes if not n.taints) < 2:
        return {}
    out: dict[str, list[str]] = {}
    for gone in (n.name for n in rest.nodes if any(n.pods.get(w.label) for w in at_rest if not w.daemon)):
        nodes = [n for n in nodes_of(config)[0] if n.name != gone]
        placement = place(nodes, at_rest)
        out[gone] = [p for p in placement.problems if SHORT_OF_ROOM in p]
    return out


def safe_model(recording: Recording) -> CapacityModel | None:
    try:
        return model(recording)
    except ConfigError:
        return None
