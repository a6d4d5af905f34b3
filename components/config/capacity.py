"""Configuration of the plan's capacity and storage model: data growth per store and the warning threshold.

The plan (offline/capacity.py, offline/capacity_storage.py) checks every stack against its servers: compute
requests against each node's allocatable, every volume claim against the ZFS pool of the node it lands on,
and the data services' volumes against the data the stores are expected to hold after `horizonDays`.
The growth of each store is an estimate its owner writes down here; docs/capacity.md says what each figure
turns into (bytes per order, per product and store view, per customer) and where those figures come from.

Size classes are the sites' own (`sites[].size`, tiers in components/config/site_tiers.py); `size_classes()`
gives the yardstick the plan counts free room in ("how many more small stores fit"): what a store of the
class requests at rest and at its maxima, the throughput it is expected to serve and what that rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import Field, field_validator

from components.config.base import Model
from components.config.types import DnsLabel, parse_quantity


class SiteGrowth(Model):
    """What one store is expected to hold and add: the inputs of the storage model."""

    site: DnsLabel = Field(description="name of a configured site")
    products: int = Field(ge=0, le=50_000_000, description="catalog size (simple products, children of configurables included)")
    store_views: int = Field(1, ge=1, le=500, description="store views: the index and URL rewrites grow with each")
    customers: int = Field(0, ge=0, le=100_000_000, description="registered customers today")
    orders: int = Field(0, ge=0, le=1_000_000_000, description="orders held today")
    orders_per_day: int = Field(0, ge=0, le=10_000_000, description="orders added per day")
    customers_per_day: int = Field(0, ge=0, le=10_000_000, description="customers registering per day")


class AcceptedProblem(Model):
    """A capacity problem the team has reviewed and accepts for now: reported as a note, not a failure."""

    workload: str = Field(min_length=3, description="the workload the problem names, as the plan prints it (e.g. 'Pod mysql/mysql-pxc')")
    reason: str = Field(min_length=20, description="why it is accepted and what resolves it")


class Capacity(Model):
    horizon_days: int = Field(365, ge=1, le=3650, description="how far ahead the storage model projects growth")
    storage_warn_percent: int = Field(
        80, ge=10, le=95, description="warn when a pool or a data volume would be fuller than this (ZFS slows past ~80%)"
    )
    growth: list[SiteGrowth] = Field(default_factory=list, description="expected data per store (absent stores count as empty)")
    accepted: list[AcceptedProblem] = Field(
        default_factory=list, description="reviewed capacity problems reported as notes; one that matches nothing fails the plan"
    )

    @field_validator("growth")
    @classmethod
    def _unique(cls, values: list[SiteGrowth]) -> list[SiteGrowth]:
        names = [v.site for v in values]
        if len(set(names)) != len(names):
            raise ValueError("each site may appear once in growth")
        return values


@dataclass(frozen=True)
class SizeExpectation:
    """What a store of a size class is expected to hold and serve, and the per-request costs that rest on."""

    catalog: str
    page_seconds: Decimal  # CPU-seconds of PHP per uncached storefront page
    basis: str


# The catalog column follows Magento's performance-toolkit profiles (setup/performance-toolkit/profiles/ce/*.xml:
# small 800 simple products, medium 24,000, large 300,000). The per-page costs are estimates, not measurements
# (a warm Magento 2.4 storefront with OPcache; larger catalogs cost more per category page through layered
# navigation): measure a real build with loadtest/ against a staging store and correct them.
EXPECTATIONS: dict[str, SizeExpectation] = {
    "small": SizeExpectation("up to ~1,000 products, 1 store view (performance-toolkit small profile)", Decimal("0.25"),
                             "~250 ms of one PHP core per uncached page"),
    "medium": SizeExpectation("up to ~25,000 products, up to 3 store views (performance-toolkit medium profile)", Decimal("0.30"),
                              "~300 ms per uncached page (layered navigation over the larger catalog)"),
    "large": SizeExpectation("up to ~300,000 products, up to 5 store views (performance-toolkit large profile)", Decimal("0.35"),
                             "~350 ms per uncached page; checkout bound by Galera's certification of each order write"),
}
WAF_SECONDS_PER_REQUEST = Decimal("0.0015")  # CRS at paranoia 1 on ModSecurity v3: ~1-2 ms of CPU per request
CHECKOUT_CPU_SECONDS = Decimal("3")  # one order: ~6 uncached requests (cart, checkout, shipping, payment, place) of ~0.5 s
CHECKOUT_SHARE = Decimal("0.2")  # of the PHP tier's CPU spent on checkout at peak


@dataclass(frozen=True)
class SizeClass:
    """A store size class: what a store of it requests (at rest and at its autoscalers' maxima, from the tiers of
    components/config/site_tiers.py), what it is expected to serve, and what that rests on."""

    name: str
    cpu_rest: Decimal
    memory_rest: Decimal
    cpu_max: Decimal
    memory_max: Decimal
    storage: str
    catalog: str
    throughput: str
    basis: str


def size_class(name: str) -> SizeClass:
    from components.config.sites import Site, SiteQuota  # the site model imports this package's base

    site = Site(name="sizing", domains=["sizing.example.com"], image={"repository": "registry.example.com/sizing", "tag": "1"},
                size=name)
    rest, top = site.compute("min"), site.compute("max")
    php, waf, expectation = site.tiers.php_fpm, site.edge.waf, EXPECTATIONS[name]
    guaranteed = Decimal(str(parse_quantity(php.resources.cpu_request))) * php.max_replicas
    burst = Decimal(str(parse_quantity(php.resources.cpu_limit))) * php.max_replicas
    cached = Decimal(str(parse_quantity(waf.resources.cpu_request))) * waf.max_replicas / WAF_SECONDS_PER_REQUEST
    orders = guaranteed * CHECKOUT_SHARE * 60 / CHECKOUT_CPU_SECONDS
    return SizeClass(
        name=name, cpu_rest=rest["requests.cpu"], memory_rest=rest["requests.memory"], cpu_max=top["requests.cpu"],
        memory_max=top["requests.memory"], storage=SiteQuota().storage, catalog=expectation.catalog,
        throughput=f"~{guaranteed / expectation.page_seconds:.0f} uncached page views/s (~{burst / expectation.page_seconds:.0f} "
        f"bursting to CPU limits), ~{cached:.0f} cached/s, ~{orders:.0f} orders/min",
        basis=f"PHP-FPM at its maximum {php.max_replicas} x {php.resources.cpu_request} CPU requested "
        f"({php.resources.cpu_limit} limit) at {expectation.basis}; cache hits bound by the WAF ({waf.max_replicas} x "
        f"{waf.resources.cpu_request} CPU at ~{WAF_SECONDS_PER_REQUEST * 1000:.1f} ms each); orders at {CHECKOUT_SHARE * 100:.0f}% of "
        f"the PHP CPU, ~{CHECKOUT_CPU_SECONDS} CPU-s per order",
    )


def size_classes() -> dict[str, SizeClass]:
    return {name: size_class(name) for name in EXPECTATIONS}
