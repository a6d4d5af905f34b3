"""Configuration of the Magento stores: domains, image, quota and their place at the shared edge."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components import versions
from components.config.base import ComputeResources, Model
from components.config.site_tiers import (
    EXPORTER_RESOURCES,
    ConsumerGroup,
    Cron,
    Egress,
    Media,
    Release,
    SizeClass,
    StoreView,
    Tiers,
    default_consumers,
    tiers_for,
)
from components.config.types import Cidr, DnsLabel, DnsName, Quantity, parse_quantity


class SiteImage(Model):
    repository: str = Field(pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$", description="the store's built image (registry/path)")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="pinned tag of the build (never latest)")

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not a pinned tag: use the build's version or digest tag")
        return value


class SiteQuota(Model):
    cpu: Quantity = Field("8", description="CPU requests the namespace may hold")
    memory: Quantity = Field("16Gi", description="memory requests the namespace may hold")
    cpu_limits: Quantity | None = Field(None, description="CPU limits the namespace may hold (default: four times cpu)")
    memory_limits: Quantity | None = Field(None, description="memory limits the namespace may hold (default: four times memory)")
    storage: Quantity = Field("50Gi", description="storage the namespace may claim")
    pods: int = Field(60, ge=10, le=1000, description="pods the namespace may run")


WafExclusion = Literal["admin", "rest", "graphql"]


class SiteWaf(Model):
    """The store's WAF tier (OWASP CRS on ModSecurity v3, nginx image) between the Gateway and Varnish."""

    mode: Literal["detection-only", "blocking"] = Field(
        "detection-only", description="detection-only logs matches; blocking rejects requests over the anomaly threshold"
    )
    paranoia_level: int = Field(1, ge=1, le=4, description="CRS blocking paranoia level (1 = fewest false positives)")
    anomaly_inbound_threshold: int = Field(5, ge=1, le=10000, description="CRS inbound anomaly score that blocks a request")
    exclusions: list[WafExclusion] = Field(
        default_factory=lambda: ["admin", "rest", "graphql"],
        description="Magento rule exclusions to load: admin (rich-text fields), rest (JSON, PUT/DELETE), graphql",
    )
    min_replicas: int = Field(2, ge=1, le=50, description="WAF pods kept running (HPA minimum)")
    max_replicas: int = Field(6, ge=1, le=100, description="WAF pods the HPA may scale to")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="average CPU utilisation the HPA aims for")
    resources: ComputeResources = Field(
        default_factory=lambda: ComputeResources(
            cpu_request="250m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi"
        ),
        description="requests and limits of one WAF container",
    )

    @field_validator("exclusions")
    @classmethod
    def _unique_exclusions(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("exclusions must not repeat")
        return values

    @model_validator(mode="after")
    def _replica_range(self) -> SiteWaf:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} exceeds maxReplicas {self.max_replicas}")
        return self


class RateLimit(Model):
    """A local (per Envoy replica) rate limit on one of the store's hot endpoints."""

    name: DnsLabel = Field(description="names the rule (one BackendTrafficPolicy rule per endpoint)")
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="request path (or regular expression); `{adminPath}` stands for the site's adminPath",
    )
    match: Literal["Exact", "PathPrefix", "RegularExpression"] = Field("PathPrefix", description="how path matches")
    requests: int = Field(ge=1, le=1_000_000, description="requests allowed per unit")
    unit: Literal["Second", "Minute", "Hour"] = Field("Minute", description="the period of the limit")

    @model_validator(mode="after")
    def _path_shape(self) -> RateLimit:
        if self.match == "RegularExpression":
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regular expression: {exc}") from None
        elif not self.path.startswith("/"):
            raise ValueError("an Exact or PathPrefix path must start with '/' (path)")
        return self


def _default_rate_limits() -> list[RateLimit]:
    return [
        RateLimit(name="customer-login", path="/customer/account/loginPost", match="PathPrefix", requests=60),
        RateLimit(name="admin", path="/{adminPath}", match="PathPrefix", requests=300),
        RateLimit(
            name="token",
            path=r"^/rest/([A-Za-z0-9_]+/)?V1/integration/(customer|admin)/token",
            match="RegularExpression",
            requests=30,
        ),
        RateLimit(name="graphql", path="/graphql", match="PathPrefix", requests=1200),
        RateLimit(name="checkout", path="/checkout", match="PathPrefix", requests=600),
    ]


class SiteEdge(Model):
    """How the shared edge serves the store: admin path and allow-list, rate limits, WAF."""

    admin_path: str = Field(
        "admin", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Magento's backend frontName (app/etc/env.php backend.frontName)"
    )
    admin_allow_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="client networks allowed to reach the admin path; empty leaves the admin open to every client",
    )
    rate_limits: list[RateLimit] = Field(
        default_factory=_default_rate_limits, description="one local rate limit per hot endpoint"
    )
    waf: SiteWaf = Field(default_factory=SiteWaf, description="the WAF tier in front of the store")

    @field_validator("rate_limits")
    @classmethod
    def _unique_names(cls, values: list[RateLimit]) -> list[RateLimit]:
        names = [v.name for v in values]
        if len(set(names)) != len(names):
            raise ValueError("rate limit names must be unique")
        return values


class Site(Model):
    name: DnsLabel = Field(description="the store's short name; its namespace is site-<name>")
    domains: list[DnsName] = Field(min_length=1, description="host names the store answers on")
    magento_version: Literal[versions.MAGENTO_VERSIONS] = Field(  # type: ignore[valid-type]
        versions.MAGENTO_VERSIONS[-1], description="Magento release of the build")
    php_version: Literal[versions.PHP_VERSIONS] = Field(  # type: ignore[valid-type]
        versions.PHP_VERSIONS[0], description="PHP version of the build")
    image: SiteImage = Field(description="the store's image")
    quota: SiteQuota = Field(SiteQuota(), description="namespace quota")
    edge: SiteEdge = Field(default_factory=SiteEdge, description="routing, rate limits and WAF at the shared edge")
    delivery: Literal["direct", "gitops"] = Field(
        "direct",
        description="direct: Pulumi applies the site's objects; gitops: they are rendered to tenants/<site>/ of "
        "platform.gitops and an Argo CD Application syncs them (no Secret is ever rendered)",
    )
    deployment: Literal["platform", "stack"] = Field(
        "platform", description="platform: built by the platform stack; stack: by its own stack <env>-site-<name> (StackReference)"
    )
    stores: list[StoreView] = Field(
        default_factory=list, description="store views by host name (empty: the default store on every domain)"
    )
    size: SizeClass = Field("small", description="size class the tiers start from (small, medium, large)")
    tiers: Tiers = Field(description="resources and autoscaling per tier: the size class with these keys overriding it")
    media: Media = Field(default_factory=Media, description="where pub/media lives and the CDN host")
    cron: Cron = Field(default_factory=Cron, description="the every-minute cron:run CronJob")
    consumers: list[ConsumerGroup] = Field(default_factory=default_consumers, description="queue consumer groups")
    release: Release = Field(default_factory=Release, description="maintenance and blue/green of releases")
    egress: Egress = Field(default_factory=Egress, description="networks outside the cluster the store may reach")

    @model_validator(mode="before")
    @classmethod
    def _tiers_from_size(cls, data: object) -> object:
        if isinstance(data, dict):
            size = data.get("size", "small")
            if size in ("small", "medium", "large"):
                overrides = data.get("tiers")
                data = {**data, "tiers": tiers_for(size, overrides if isinstance(overrides, dict) else None)}
        return data

    @property
    def release_name(self) -> str:
        """The release: the image tag as a DNS label (the release Job is `release-<this>`)."""
        slug = re.sub(r"[^a-z0-9-]+", "-", self.image.tag.lower()).strip("-")
        return slug[:48].rstrip("-") or "release"

    @model_validator(mode="after")
    def _stores_on_site_domains(self) -> Site:
        codes = [store.code for store in self.stores]
        if len(set(codes)) != len(codes):
            raise ValueError("stores: store codes must be unique")
        seen: set[str] = set()
        for store in self.stores:
            for domain in store.domains:
                if domain not in self.domains:
                    raise ValueError(f"stores: {domain} of store {store.code} is not among the site's domains")
                if domain in seen:
                    raise ValueError(f"stores: {domain} belongs to more than one store")
                seen.add(domain)
        groups = [group.name for group in self.consumers]
        if len(set(groups)) != len(groups):
            raise ValueError("consumers: group names must be unique")
        return self

    def compute(self, at: Literal["min", "max"] = "max") -> dict[str, Decimal]:
        """CPU (cores) and memory (bytes) of requests and limits the store's pods hold, with every tier at
        its autoscaling minimum or maximum (each web and Varnish pod with its exporter sidecar), one cron run
        and the release Job (what the quota must admit)."""
        tiers, waf = self.tiers, self.edge.waf
        pick = (lambda lo, hi: lo) if at == "min" else (lambda lo, hi: hi)
        counted: list[tuple[ComputeResources, int]] = [
            (tiers.nginx.resources, pick(tiers.nginx.min_replicas, tiers.nginx.max_replicas)),
            (EXPORTER_RESOURCES["nginx"], pick(tiers.nginx.min_replicas, tiers.nginx.max_replicas)),
            (tiers.php_fpm.resources, pick(tiers.php_fpm.min_replicas, tiers.php_fpm.max_replicas)),
            (EXPORTER_RESOURCES["php-fpm"], pick(tiers.php_fpm.min_replicas, tiers.php_fpm.max_replicas)),
            (tiers.varnish.resources, tiers.varnish.replicas),
            (EXPORTER_RESOURCES["varnish"], tiers.varnish.replicas),
            (waf.resources, pick(waf.min_replicas, waf.max_replicas)),
            (tiers.cli, (1 if self.cron.enabled else 0) + sum(pick(g.min_replicas, g.max_replicas) for g in self.consumers)),
            (tiers.release, 1),
        ]
        total = {"requests.cpu": Decimal(0), "requests.memory": Decimal(0), "limits.cpu": Decimal(0), "limits.memory": Decimal(0)}
        for resources, count in counted:
            total["requests.cpu"] += parse_quantity(resources.cpu_request) * count
            total["requests.memory"] += parse_quantity(resources.memory_request) * count
            total["limits.cpu"] += parse_quantity(resources.cpu_limit) * count
            total["limits.memory"] += parse_quantity(resources.memory_limit) * count
        return total

    def quota_hard(self) -> dict[str, str]:
        """The ResourceQuota's compute limits (limits default to four times the requests)."""
        quota = self.quota
        return {
            "requests.cpu": quota.cpu,
            "requests.memory": quota.memory,
            "limits.cpu": quota.cpu_limits or str(parse_quantity(quota.cpu) * 4),
            "limits.memory": quota.memory_limits or f"{int(parse_quantity(quota.memory) * 4)}",
        }

    @field_validator("name")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > 30:
            raise ValueError("must be at most 30 characters so that derived names stay within 63")
        return value
