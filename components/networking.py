"""The networking layer: Cilium (CNI, kube-proxy replacement, Hubble), MetalLB L2 pools and metrics-server.

Order inside the layer: Cilium first (nodes stay NotReady and no pod starts until the CNI runs), then
everything else depends on it: the baseline policy, MetalLB (chart, then its pools), the kubelet
serving-certificate approver and metrics-server. Exactly one load-balancer IPAM runs: MetalLB; Cilium's
LB-IPAM is switched off in the chart values and no CiliumLoadBalancerIPPool is ever created.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import StackConfig
from components.layer import Layer, LayerArgs
from components.network_policy import MONITORING_NAMESPACE, allow_dns_clusterwide, namespace_isolation

KUBE_SYSTEM = "kube-system"
METALLB_NAMESPACE = "metallb-system"
# Prometheus' service account as kube-prometheus-stack names it (platform layer, release "kube-prometheus-stack").
PROMETHEUS_SERVICE_ACCOUNT = "kube-prometheus-stack-prometheus"


def service_monitors(config: StackConfig) -> bool:
    """Whether charts may create ServiceMonitors: only once the Prometheus Operator CRDs exist (a flag)."""
    return config.platform.observability.service_monitors


def replicas(failure_domains: int, wanted: int = 2) -> int:
    """Replicas of a stateless controller: `wanted` spread over failure domains, 1 on a single server."""
    return 1 if failure_domains < 2 else wanted


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
        },
        "prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors, "trustCRDsExist": monitors}},
        "envoy": {"prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors}}},
        "hubble": {
            "enabled": True,
            "metrics": {
                "enabled": ["dns", "drop", "tcp", "flow", "port-distribution", "icmp", "httpV2"],
                "enableOpenMetrics": True,
                "serviceMonitor": {"enabled": monitors},
            },
            "relay": {"enabled": True, "prometheus": {"enabled": True, "serviceMonitor": {"enabled": monitors}}},
            "ui": {"enabled": config.networking.hubble_ui},
            # Certificates for Hubble's mTLS from a CronJob, not regenerated on every render of the chart.
            "tls": {"auto": {"enabled": True, "method": "cronJob"}},
        },
        "rollOutCiliumPods": True,
    }
    if endpoint is not None:
        values["k8sServiceHost"], values["k8sServicePort"] = endpoint
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


def metallb_values(config: StackConfig) -> dict[str, Any]:
    monitors = service_monitors(config)
    return {
        # L2 mode only: no FRR / FRR-K8s BGP speaker.
        "speaker": {"frr": {"enabled": False}},
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


class Networking(Layer):
    TYPE = "magento:networking:Networking"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config, domains = args.config, args.failure_domains
        opts = self.child_opts
        self.cilium = kube.chart("cilium", "cilium", namespace=KUBE_SYSTEM, values=cilium_values(config, domains), opts=opts)
        after_cni = pulumi.ResourceOptions(parent=self, depends_on=[self.cilium])
        allow_dns_clusterwide("baseline-allow-dns", after_cni)

        metallb_ns = kube.namespace(
            "metallb-system", METALLB_NAMESPACE, level="privileged", component="load-balancer", opts=after_cni
        )
        namespace_isolation(
            "metallb-isolation",
            METALLB_NAMESPACE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cilium, metallb_ns]),
        )
        self.metallb = kube.chart(
            "metallb",
            "metallb",
            namespace=METALLB_NAMESPACE,
            values=metallb_values(config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cilium, metallb_ns]),
        )
        self.pools = self._address_pools(config)

        metrics_deps: list[pulumi.Resource] = [self.cilium]
        if config.cluster.mode == "kubeadm":
            metrics_deps.append(
                kube.chart("kubelet-csr-approver", "kubelet-csr-approver", namespace=KUBE_SYSTEM,
                           values=csr_approver_values(config), opts=after_cni)
            )
        self.metrics_server = kube.chart(
            "metrics-server",
            "metrics-server",
            namespace=KUBE_SYSTEM,
            values=metrics_server_values(domains, config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=metrics_deps),
        )
        return {
            "cni": "cilium",
            "kubeProxyReplacement": api_endpoint(config) is not None,
            "loadBalancerPools": [pool.name for pool in config.networking.load_balancer_pools],
        }

    def _address_pools(self, config: StackConfig) -> list[k8s.apiextensions.CustomResource]:
        """One IPAddressPool per configured pool and one L2Advertisement announcing them all."""
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=[self.metallb])
        pools = [
            k8s.apiextensions.CustomResource(
                f"pool-{pool.name}",
                api_version="metallb.io/v1beta1",
                kind="IPAddressPool",
                metadata={"name": pool.name, "namespace": METALLB_NAMESPACE, "labels": kube.labels("load-balancer")},
                spec={"addresses": list(pool.addresses), "autoAssign": pool.auto_assign, "avoidBuggyIPs": True},
                opts=after_chart,
            )
            for pool in config.networking.load_balancer_pools
        ]
        l2_spec: dict[str, Any] = {"ipAddressPools": [pool.name for pool in config.networking.load_balancer_pools]}
        if config.networking.l2_interfaces:
            l2_spec["interfaces"] = list(config.networking.l2_interfaces)
        k8s.apiextensions.CustomResource(
            "l2-advertisement",
            api_version="metallb.io/v1beta1",
            kind="L2Advertisement",
            metadata={"name": "l2", "namespace": METALLB_NAMESPACE, "labels": kube.labels("load-balancer")},
            spec=l2_spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.metallb, *pools]),
        )
        return pools
