"""metrics-server and the kubelet serving-certificate approver it needs on kubeadm clusters (chart values)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.layer import service_monitors
from components.placement import replicas


def metrics_server_values(failure_domains: int, config: StackConfig) -> dict[str, Any]:
    """metrics-server verifying kubelet serving certificates (never `--kubelet-insecure-tls`)."""
    count = replicas(failure_domains)
    return {
        "replicas": count,
        # The chart's defaultArgs (kept) reach kubelets by InternalIP over TLS, verified against the cluster CA.
        "args": [],
        "podDisruptionBudget": {"enabled": count > 1, "minAvailable": 1},
        "serviceMonitor": {"enabled": service_monitors(config)},
        "metrics": {"enabled": service_monitors(config)},
    }


def csr_approver_values(config: StackConfig) -> dict[str, Any]:
    """Approve kubelet serving CSRs only for our hosts' names and addresses (kubeadm mode)."""
    names = "|".join(h.name for h in config.hosts)
    prefixes = [config.cluster.private_network] if config.cluster.private_network else []
    prefixes += [f"{h.private_address}/32" for h in config.hosts if not config.cluster.private_network]
    prefixes += [f"{h.public_address}/32" for h in config.hosts]
    return {
        "providerRegex": f"^({names})$",
        "providerIpPrefixes": prefixes,
        "bypassDnsResolution": True,
        "metrics": {"enable": True, "serviceMonitor": {"enabled": service_monitors(config)}},
    }
