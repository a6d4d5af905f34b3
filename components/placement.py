"""Where replicas go: how many a workload runs for the failure domains a stack has, how they spread, and
how many may be down at once.

Every workload with more than one replica, ours or a chart's, spreads over failure domains (the node
label `topology.kubernetes.io/zone`, which the hosts layer sets to each host's `failureDomain`) and over
hosts, and has a PodDisruptionBudget. These helpers give the Kubernetes shapes once, so that typed
resources and chart values say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


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
