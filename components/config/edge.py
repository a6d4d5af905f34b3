"""Configuration of the shared edge: ACME certificates, the Gateway address, trusted proxies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.config.base import ComputeResources, Model, resources_field, sized
from components.config.types import Cidr, IpAddress


class Acme(Model):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="ACME account e-mail")
    server: Literal[
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ] = Field("https://acme-v02.api.letsencrypt.org/directory", description="ACME directory (production or staging)")
    solver: Literal["http01", "dns01"] = Field("http01", description="ACME challenge type")
    dns_provider: Literal["cloudflare"] | None = Field(
        None, description="DNS provider for dns01, with its API token in the secret acmeDnsApiToken (cloudflare is built in)"
    )


class EdgeResources(Model):
    """Requests and limits of the edge's containers (per container, per replica)."""

    envoy_gateway: ComputeResources = resources_field(sized("100m", "256Mi", "1", "1Gi"), "Envoy Gateway controller")
    envoy_proxy: ComputeResources = resources_field(sized("250m", "256Mi", "2", "1Gi"), "each Envoy proxy of the shared Gateway")
    cert_manager: ComputeResources = resources_field(sized("25m", "64Mi", "500m", "256Mi"), "cert-manager controller")
    cert_manager_webhook: ComputeResources = resources_field(sized("25m", "32Mi", "500m", "128Mi"), "cert-manager webhook")
    cert_manager_cainjector: ComputeResources = resources_field(sized("25m", "128Mi", "500m", "512Mi"), "cert-manager CA injector")


class Edge(Model):
    acme: Acme = Field(description="certificate issuance")
    gateway_address: IpAddress | None = Field(None, description="fixed LoadBalancer address of the shared Gateway")
    trusted_proxy_cidrs: list[Cidr] = Field(default_factory=list, description="CDN ranges whose X-Forwarded-For is trusted")
    resources: EdgeResources = Field(default_factory=lambda: EdgeResources(), description="requests and limits of the edge's containers")
