"""The networking layer: Cilium (CNI, kube-proxy replacement, Hubble), MetalLB L2 pools and metrics-server.

Order inside the layer: Cilium first (nodes stay NotReady and no pod starts until the CNI runs), then
everything else depends on it: the baseline policy, MetalLB (chart, then its pools), the kubelet
serving-certificate approver and metrics-server. Exactly one load-balancer IPAM runs: MetalLB; Cilium's
LB-IPAM is switched off in the chart values and no CiliumLoadBalancerIPPool is ever created.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import StackConfig
from components.layer import Layer, LayerArgs
from components.network_policy import allow_dns_clusterwide, namespace_isolation
from components.networking.cilium import api_endpoint, cilium_values
from components.networking.metallb import METALLB_NAMESPACE, l2_advertisement_spec, metallb_transforms, metallb_values
from components.networking.metrics_server import CSR_APPROVER_LABELS, csr_approver_values, metrics_server_values
from components.placement import replicas

KUBE_SYSTEM = "kube-system"


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
            transforms=metallb_transforms(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cilium, metallb_ns]),
        )
        self.pools = self._address_pools(config)

        metrics_deps: list[pulumi.Resource] = [self.cilium]
        if config.cluster.mode == "kubeadm":
            approver = kube.chart("kubelet-csr-approver", "kubelet-csr-approver", namespace=KUBE_SYSTEM,
                                  values=csr_approver_values(config, domains), opts=after_cni)
            metrics_deps.append(approver)
            if replicas(domains) > 1:
                # The chart has no PodDisruptionBudget of its own.
                kube.disruption_budget("kubelet-csr-approver-pdb", "kubelet-csr-approver", KUBE_SYSTEM, CSR_APPROVER_LABELS,
                                       component="networking", opts=pulumi.ResourceOptions(parent=self, depends_on=[approver]))
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
        l2_spec = l2_advertisement_spec(config)
        k8s.apiextensions.CustomResource(
            "l2-advertisement",
            api_version="metallb.io/v1beta1",
            kind="L2Advertisement",
            metadata={"name": "l2", "namespace": METALLB_NAMESPACE, "labels": kube.labels("load-balancer")},
            spec=l2_spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.metallb, *pools]),
        )
        return pools
