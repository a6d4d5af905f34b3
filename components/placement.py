"""Where replicas go: how many a controller runs for the failure domains a stack has."""

from __future__ import annotations


def replicas(failure_domains: int, wanted: int = 2) -> int:
    """Replicas of a stateless controller: `wanted` spread over failure domains, 1 on a single server."""
    return 1 if failure_domains < 2 else wanted
