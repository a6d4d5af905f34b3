"""metrics-server and the kubelet serving-certificate approver it needs on kubeadm clusters (chart values)."""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.layer import service_monitors
from components.placement import anti_affinity, replicas, spread_constraints

METRICS_SERVER_LABELS = {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"}
CSR_APPROVER_LABELS = {"app.kubernetes.io/name": "kubelet-csr-approver", "app.kubernetes.io/instance": "kubelet-csr-approver"}


def kubelet_certificates_verified(config: StackConfig) -> bool:
    """Whether kubelet serving certificates are signed by the cluster CA (kubeadm mode: the approver signs them)."""
    if config.cluster.mode == "kubeadm":
        return True
    return config.cluster.existing is not None and config.cluster.existing.kubelet_serving_certificates == "signed"


def metrics_server_values(failure_domains: int, config: StackConfig) -> dict[str, Any]:
    """metrics-server verifying kubelet serving certificates; `--kubelet-insecure-tls` only on an existing dev
    cluster whose kubelets serve self-signed certificates (kind, k3d), which the model refuses in prod."""
    count = replicas(failure_domains)
    return {
        "replicas": count,
        # The chart's defaultArgs (kept) reach kubelets by InternalIP over TLS, verified against the cluster CA.
        "args": [] if kubelet_certificates_verified(config) else ["--kubelet-insecure-tls"],
        "podDisruptionBudget": {"enabled": count > 1, "maxUnavailable": 1},
        "topologySpreadConstraints": spread_constraints(METRICS_SERVER_LABELS, failure_domains),
        "resources": config.networking.resources.metrics_server.as_k8s(),
        "serviceMonitor": {"enabled": service_monitors(config)},
        "metrics": {"enabled": service_monitors(config)},
    }


def csr_approver_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
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
        # Leader-elected: a second replica only where there is a second failure domain (its PDB is ours).
        "replicas": replicas(failure_domains),
        "resources": config.networking.resources.csr_approver.as_k8s(),
        "affinity": anti_affinity(CSR_APPROVER_LABELS),
    }
