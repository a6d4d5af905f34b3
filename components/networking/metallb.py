"""MetalLB: LoadBalancer addresses announced over L2 (chart values; the pools are built by the layer)."""

from __future__ import annotations

from typing import Any

import pulumi

from components import chart_patches
from components.config.model import StackConfig
from components.layer import service_monitors
from components.network_policy import MONITORING_NAMESPACE

METALLB_NAMESPACE = "metallb-system"
# Prometheus' service account as kube-prometheus-stack names it (platform layer, release "kube-prometheus-stack").
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"


def metallb_values(config: StackConfig) -> dict[str, Any]:
    monitors = service_monitors(config)
    res = config.networking.resources
    return {
        # L2 mode only: no FRR / FRR-K8s BGP speaker.
        "speaker": {
            "frr": {"enabled": False},
            "resources": res.metallb_speaker.as_k8s(),
            # kubeadm labels every control plane node.kubernetes.io/exclude-from-external-load-balancers, and the
            # speaker skips such nodes: on a cluster of control planes that also run workloads (prod) none would
            # announce. Which nodes announce is the L2Advertisement's nodeSelectors instead (l2_advertisement_spec).
            "ignoreExcludeLB": config.cluster.mode == "kubeadm",
        },
        "controller": {"resources": res.metallb_controller.as_k8s()},
        "frrk8s": {"enabled": False},
        "prometheus": {
            # Metrics are HTTPS with authorisation since 0.16: the chart grants Prometheus' account access.
            "rbacPrometheus": True,
            "serviceAccount": PROMETHEUS_SERVICE_ACCOUNT,
            "namespace": MONITORING_NAMESPACE,
            "serviceMonitor": {"enabled": monitors},
            "podMonitor": {"enabled": False},
        },
    }


def metallb_transforms() -> list[pulumi.ResourceTransform]:
    """MetalLB's controller injects its webhook's CA bundle itself; the chart has no value for annotations on the
    webhook configuration, so the wait is added as a transform (the address pools are created after it)."""
    return [chart_patches.annotate("ValidatingWebhookConfiguration", "metallb-webhook-configuration",
                                   chart_patches.WAIT_FOR_CA_BUNDLE)]


WITNESS_LABEL = "node-role.kubernetes.io/witness"  # set by hosts/kubeadm.node_labels


def announce_interfaces(config: StackConfig) -> list[str]:
    """Where the speakers answer ARP: networking.l2Interfaces, else (kubeadm mode) each host's privateInterface,
    the vRack, where OVH delivers the additional IP block (networking.vrackBlock). Existing mode: any interface."""
    if config.networking.l2_interfaces:
        return list(config.networking.l2_interfaces)
    if config.cluster.mode != "kubeadm":
        return []
    return sorted({host.private_interface for host in config.hosts if "witness" not in host.roles})


def l2_advertisement_spec(config: StackConfig) -> dict[str, Any]:
    """Every pool, announced on the vRack interfaces by the nodes that run workloads (never the witness: small, and
    in another datacentre)."""
    spec: dict[str, Any] = {"ipAddressPools": [pool.name for pool in config.networking.load_balancer_pools]}
    interfaces = announce_interfaces(config)
    if interfaces:
        spec["interfaces"] = interfaces
    if config.cluster.mode == "kubeadm" and any("witness" in host.roles for host in config.hosts):
        spec["nodeSelectors"] = [{"matchExpressions": [{"key": WITNESS_LABEL, "operator": "DoesNotExist"}]}]
    return spec
