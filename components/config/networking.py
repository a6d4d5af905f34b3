"""Configuration of cluster networking: LoadBalancer address pools and Hubble."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from components.config.base import ComputeResources, Model, resources_field, sized
from components.config.types import Cidr, DnsLabel, IpAddress


class AddressPool(Model):
    name: DnsLabel = Field(description="pool name")
    addresses: list[str] = Field(min_length=1, description="CIDRs or first-last ranges")
    auto_assign: bool = Field(True, description="hand out addresses without an explicit request")

    @field_validator("addresses")
    @classmethod
    def _ranges(cls, values: list[str]) -> list[str]:
        from components.config.netutil import parse_range

        for value in values:
            parse_range(value)
        return values


class NetworkingResources(Model):
    """Requests and limits of what the networking layer's charts run (per container, per replica).

    Defaults: the CNI and the load balancer are on every request's path, so their memory limits leave
    head-room over their usual footprint (Cilium's agent holds the BPF maps' user-space state, a few hundred
    MiB on a node with a few hundred pods); lower them only after watching a week of `container_memory_working_set_bytes`.
    """

    cilium_agent: ComputeResources = resources_field(sized("200m", "512Mi", "2", "2Gi"), "Cilium agent (one per node)")
    cilium_init: ComputeResources = resources_field(sized("10m", "32Mi", "500m", "256Mi"), "init containers of the Cilium agent pod")
    cilium_envoy: ComputeResources = resources_field(sized("100m", "128Mi", "1", "1Gi"), "Cilium's per-node Envoy (L7 policy)")
    cilium_operator: ComputeResources = resources_field(sized("50m", "128Mi", "1", "512Mi"), "Cilium operator")
    hubble_relay: ComputeResources = resources_field(sized("50m", "64Mi", "500m", "256Mi"), "Hubble relay")
    hubble_ui: ComputeResources = resources_field(sized("10m", "32Mi", "200m", "128Mi"), "each Hubble UI container (frontend, backend)")
    hubble_certgen: ComputeResources = resources_field(sized("10m", "32Mi", "200m", "128Mi"), "Hubble certificate job")
    metallb_controller: ComputeResources = resources_field(sized("25m", "64Mi", "500m", "256Mi"), "MetalLB controller")
    metallb_speaker: ComputeResources = resources_field(sized("25m", "64Mi", "500m", "256Mi"), "MetalLB speaker (one per node)")
    metrics_server: ComputeResources = resources_field(sized("100m", "200Mi", "1", "512Mi"), "metrics-server")
    csr_approver: ComputeResources = resources_field(sized("50m", "64Mi", "500m", "128Mi"), "kubelet serving-certificate approver")


class VrackBlock(Model):
    """An additional IP block ordered from OVH and routed to the vRack (docs/networking.md, "MetalLB on OVH"):
    the only public addresses MetalLB can announce with ARP. OVH keeps the block's first address (network), its
    penultimate one (the gateway) and its last one (broadcast); the rest is for the pools."""

    cidr: Cidr = Field(description="the block, e.g. 203.0.113.240/28 (as the OVH manager lists it)")
    gateway: IpAddress | None = Field(None, description="the block's gateway on the vRack; unset: its penultimate address (OVH's convention)")

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def gateway_address(self) -> str:
        return self.gateway or str(self.network.broadcast_address - 1)

    @property
    def reserved(self) -> list[str]:
        """Addresses of the block no pool may hand out: network, gateway, broadcast."""
        net = self.network
        return sorted({str(net.network_address), self.gateway_address, str(net.broadcast_address)}, key=ipaddress.ip_address)


class Networking(Model):
    load_balancer_pools: list[AddressPool] = Field(min_length=1, description="LoadBalancer address pools (MetalLB)")
    l2_interfaces: list[str] = Field(
        default_factory=list,
        description="interfaces MetalLB announces on; empty: each host's privateInterface (the vRack) in kubeadm mode, any interface in existing mode",
    )
    vrack_block: VrackBlock | None = Field(
        None, description="the additional IP block routed to the vRack that public pools come from (OVH); replies from it leave through its gateway"
    )
    hubble_ui: bool = Field(True, description="deploy the Hubble UI")
    resources: NetworkingResources = Field(default_factory=lambda: NetworkingResources(), description="requests and limits of the networking charts' containers")
