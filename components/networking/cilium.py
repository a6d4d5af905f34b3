"""Cilium: the CNI, kube-proxy replacement, NetworkPolicy and Hubble (chart values)."""

from __future__ import annotations

from typing import Any

from components import k8s as kube
from components.config.model import StackConfig
from components.layer import service_monitors
from components.placement import replicas, spread_constraints

OPERATOR_LABELS = {"io.cilium/app": "operator"}


def api_endpoint(config: StackConfig) -> tuple[str, int] | None:
    """host and port of the API server for Cilium's kube-proxy replacement, when this program knows them."""
    endpoint = config.cluster.control_plane_endpoint
    if endpoint is None:
        return None
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


def cilium_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    """Cilium values. kubeadm mode: kube-proxy replacement against controlPlaneEndpoint, native routing.

    `existing` mode (a laptop cluster this program did not build): kube-proxy is still running and the
    nodes' network is unknown, so Cilium runs *without* kube-proxy replacement and with VXLAN tunnelling,
    unless `cluster.controlPlaneEndpoint` is given, in which case it replaces kube-proxy as in kubeadm mode.
    The cluster must have been created without a CNI of its own (kind: `networking.disableDefaultCNI`).
    """
    monitors = service_monitors(config)
    endpoint = api_endpoint(config)
    native = config.cluster.mode == "kubeadm"
    res = config.networking.resources
    values: dict[str, Any] = {
        "kubeProxyReplacement": endpoint is not None,
        "ipam": {"mode": "kubernetes"},
        "k8s": {"requireIPv4PodCIDR": True},
        "bpf": {"masquerade": endpoint is not None},
        "enableIPv4Masquerade": True,
        # Exactly one load-balancer IPAM: MetalLB. Cilium's LB-IPAM off, no L2 announcements, no BGP.
        "enableLBIPAM": False,
        "defaultLBServiceIPAM": "none",
        "l2announcements": {"enabled": False},
        "bgpControlPlane": {"enabled": False},
        "nodeIPAM": {"enabled": False},
        # Envoy Gateway is the Gateway API implementation, not Cilium's.
        "gatewayAPI": {"enabled": False},
        "ingressController": {"enabled": False},
        "policyEnforcementMode": "default",
        "operator": {
            "replicas": replicas(failure_domains),
            "prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors}},
            # The chart keeps operators on different hosts (required anti-affinity); spread them over zones too.
            "topologySpreadConstraints": spread_constraints(OPERATOR_LABELS, failure_domains),
            "podDisruptionBudget": {"enabled": replicas(failure_domains) > 1, "maxUnavailable": 1},
            "resources": res.cilium_operator.as_k8s(),
        },
        "resources": res.cilium_agent.as_k8s(),
        "initResources": res.cilium_init.as_k8s(),
        "cni": {"resources": res.cilium_init.as_k8s()},
        "certgen": {"resources": res.hubble_certgen.as_k8s()},
        # The Secrets namespace the chart creates (TLS secrets for Cilium's Envoy) gets Pod Security labels;
        # nothing runs in it.
        "secretsNamespaceLabels": kube.pod_security_labels("restricted"),
        "prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors, "trustCRDsExist": monitors}},
        "envoy": {"prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors}}, "resources": res.cilium_envoy.as_k8s()},
        "hubble": {
            "enabled": True,
            "metrics": {
                "enabled": ["dns", "drop", "tcp", "flow", "port-distribution", "icmp", "httpV2"],
                "enableOpenMetrics": True,
                "serviceMonitor": {"enabled": monitors},
            },
            "relay": {
                "enabled": True,
                "prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors}},
                "resources": res.hubble_relay.as_k8s(),
            },
            "ui": {
                "enabled": config.networking.hubble_ui,
                "backend": {"resources": res.hubble_ui.as_k8s()},
                "frontend": {"resources": res.hubble_ui.as_k8s()},
            },
            # Certificates for Hubble's mTLS from a CronJob, not regenerated on every render of the chart.
            "tls": {"auto": {"enabled": True, "method": "cronJob"}},
        },
        "rollOutCiliumPods": True,
    }
    if endpoint is not None:
        values["k8sServiceHost"], values["k8sServicePort"] = endpoint
    if native and endpoint is not None:
        # The endpoint first (the keepalived VIP in HA clusters), then every control plane directly:
        # the agent fails over between them, so it still reaches an API server if the VIP is gone.
        urls = [f"https://{endpoint[0]}:{endpoint[1]}"]
        urls += [f"https://{h.private_address}:{endpoint[1]}" for h in config.control_planes if h.private_address != endpoint[0]]
        values["k8s"]["apiServerURLs"] = " ".join(urls)
    if native and config.cluster.private_network:
        # The kube-proxy replacement serves NodePorts in eBPF before nftables' input hook sees them:
        # only on the private (vRack) addresses, never on the public NIC.
        values["nodePort"] = {"addresses": [config.cluster.private_network]}
    if native:
        # Native routing on the private network: pod CIDRs routed between nodes over the vRack L2.
        values.update(
            routingMode="native",
            autoDirectNodeRoutes=True,
            ipv4NativeRoutingCIDR=config.cluster.pod_cidr,
        )
    else:
        values.update(routingMode="tunnel", tunnelProtocol="vxlan")
    return values
