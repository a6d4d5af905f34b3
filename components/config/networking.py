"""Configuration of cluster networking: LoadBalancer address pools and Hubble."""

from __future__ import annotations

from pydantic import Field, field_validator

from components.config.base import Model
from components.config.types import DnsLabel


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


class Networking(Model):
    load_balancer_pools: list[AddressPool] = Field(min_length=1, description="LoadBalancer address pools (MetalLB)")
    l2_interfaces: list[str] = Field(default_factory=list, description="interfaces MetalLB announces on")
    hubble_ui: bool = Field(True, description="deploy the Hubble UI")
