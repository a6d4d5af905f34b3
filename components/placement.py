"""Where replicas go: how many a workload runs for the failure domains a stack has, how they spread, and
how many may be down at once.

Every workload with more than one replica, ours or a chart's, spreads over failure domains (the node
label `topology.kubernetes.io/zone`, which the hosts layer sets to each host's `failureDomain`) and over
hosts, and has a PodDisruptionBudget. These helpers give the Kubernetes shapes once, so that typed
resources and chart values say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.config.model import StackConfig

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
# The witness host (roles: [control-plane, witness]): hosts/kubeadm.py labels it and taints it for workloads.
WITNESS_LABEL = "magento.io/witness"
WITNESS_TOLERATION = {"key": WITNESS_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
# kubeadm taints control planes; the pods that must run there (or on the witness, which is one) tolerate it.
CONTROL_PLANE_TOLERATION = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}


def replicas(failure_domains: int, wanted: int = 2) -> int:
    """Replicas of a stateless controller: `wanted` spread over failure domains, 1 on a single server."""
    return 1 if failure_domains < 2 else wanted


def spread_constraints(match_labels: Mapping[str, str], failure_domains: int) -> list[dict[str, Any]]:
    """topologySpreadConstraints: at most one replica more in any zone, and on any host, than elsewhere.

    Zones are a hard constraint when the stack has several failure domains (a replica that cannot be
    placed waits rather than doubling up in one domain), counted over the nodes the pods tolerate
    (`nodeTaintsPolicy: Honor`); hosts are a soft one.
    """
    selector = {"matchLabels": dict(match_labels)}
    constraints = [
        {"maxSkew": 1, "topologyKey": HOST_KEY, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector},
    ]
    if failure_domains > 1:
        constraints.insert(
            0,
            {
                "maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector,
                # A zone whose nodes the pods do not tolerate (the witness: tainted) is no spread domain; with the
                # default (Ignore) its zero count blocks a third replica in a two-worker cluster.
                "nodeTaintsPolicy": "Honor",
            },
        )
    return constraints


def anti_affinity(match_labels: Mapping[str, str], *, required: bool = False) -> dict[str, Any]:
    """podAntiAffinity keeping replicas on different hosts (preferred, or required for quorum members)."""
    term = {"topologyKey": HOST_KEY, "labelSelector": {"matchLabels": dict(match_labels)}}
    if required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}}


def max_unavailable(replica_count: int) -> int:
    """What a PodDisruptionBudget lets a drain take at once: one replica, never the last one."""
    return 1 if replica_count > 1 else 0


def storage_domains(config: StackConfig) -> int:
    """Failure domains with a host that can hold a data member's volume (a worker with a ZFS pool)."""
    if config.cluster.mode == "existing":
        return config.failure_domains
    return len({h.domain for h in config.hosts if "witness" not in h.roles and h.zfs is not None})


def witness_quorum(config: StackConfig, members: int) -> bool:
    """Whether a quorum of `members` keeps its data in two domains and its third vote on a witness: three members
    wanted, two failure domains with storage and a third one that only has a witness (no pool for a volume).

    The data services then run a small vote-only member there instead of a full one: OpenSearch a manager-only
    node (components/data/opensearch.py), Percona XtraDB Cluster a Galera arbitrator (components/data/pxc_arbitrator.py).
    """
    witness_domains = {h.domain for h in config.hosts if "witness" in h.roles}
    return members == 3 and storage_domains(config) == 2 and bool(witness_domains) and config.failure_domains >= 3
