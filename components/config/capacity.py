"""Configuration of the plan's capacity and storage model: data growth per store and the warning threshold.

The plan (offline/capacity.py, offline/capacity_storage.py) checks every stack against its servers: compute
requests against each node's allocatable, every volume claim against the ZFS pool of the node it lands on,
and the data services' volumes against the data the stores are expected to hold after `horizonDays`.
The growth of each store is an estimate its owner writes down here; docs/capacity.md says what each figure
turns into (bytes per order, per product and store view, per customer) and where those figures come from.

Size classes (`SIZE_CLASSES`) are the yardstick the plan counts free room in: "how many more small stores
fit". Each states the quota a store of that class holds, what throughput it is expected to serve and what
that expectation rests on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from components.config.base import Model
from components.config.types import DnsLabel


class SiteGrowth(Model):
    """What one store is expected to hold and add: the inputs of the storage model."""

    site: DnsLabel = Field(description="name of a configured site")
    products: int = Field(ge=0, le=50_000_000, description="catalog size (simple products, children of configurables included)")
    store_views: int = Field(1, ge=1, le=500, description="store views: the index and URL rewrites grow with each")
    customers: int = Field(0, ge=0, le=100_000_000, description="registered customers today")
    orders: int = Field(0, ge=0, le=1_000_000_000, description="orders held today")
    orders_per_day: int = Field(0, ge=0, le=10_000_000, description="orders added per day")
    customers_per_day: int = Field(0, ge=0, le=10_000_000, description="customers registering per day")


class Capacity(Model):
    horizon_days: int = Field(365, ge=1, le=3650, description="how far ahead the storage model projects growth")
    storage_warn_percent: int = Field(
        80, ge=10, le=95, description="warn when a pool or a data volume would be fuller than this (ZFS slows past ~80%)"
    )
    growth: list[SiteGrowth] = Field(default_factory=list, description="expected data per store (absent stores count as empty)")

    @field_validator("growth")
    @classmethod
    def _unique(cls, values: list[SiteGrowth]) -> list[SiteGrowth]:
        names = [v.site for v in values]
        if len(set(names)) != len(names):
            raise ValueError("each site may appear once in growth")
        return values


@dataclass(frozen=True)
class SizeClass:
    """A store size: the quota it holds (what it may request at its autoscalers' maxima), what it serves, and why."""

    name: str
    cpu: str
    memory: str
    storage: str
    pods: int
    catalog: str
    throughput: str
    basis: str


# The quota figures are the namespace quota a store of the class is given (components/config/sites.py SiteQuota);
# the catalog column follows Magento's performance-toolkit profiles (setup/performance-toolkit/profiles/ce/*.xml:
# small 800 simple products, medium 24,000, large 300,000). Throughput is an estimate, not a measurement: the
# loopback load profile (benchmarks/, loadtest/) measures the request chain's own overhead, not Magento's.
SIZE_CLASSES: dict[str, SizeClass] = {
    "small": SizeClass(
        name="small", cpu="4", memory="8Gi", storage="20Gi", pods=40,
        catalog="up to ~1,000 products, 1 store view (performance-toolkit small profile)",
        throughput="~14 uncached page views/s, ~500 cached/s, ~5 orders/min",
        basis="~3.5 of its 4 CPU go to PHP-FPM at the autoscaler maximum; an uncached storefront page costs ~250 ms of "
        "one PHP core (Magento 2.4, OPcache warm): 3.5 / 0.25 = 14/s. Cached pages cost Varnish ~1 ms and the WAF "
        "(CRS at paranoia 1) ~1-2 ms of CPU each, so the store's WAF replicas bound cache hits at ~500/s",
    ),
    "medium": SizeClass(
        name="medium", cpu="8", memory="16Gi", storage="50Gi", pods=60,
        catalog="up to ~25,000 products, up to 3 store views (performance-toolkit medium profile)",
        throughput="~23 uncached page views/s, ~1,500 cached/s, ~20 orders/min",
        basis="~7 CPU of PHP-FPM at the maximum and ~300 ms per uncached page (layered navigation over the larger "
        "catalog): 7 / 0.3 = 23/s; more WAF replicas for cache hits",
    ),
    "large": SizeClass(
        name="large", cpu="16", memory="32Gi", storage="100Gi", pods=80,
        catalog="up to ~300,000 products, up to 5 store views (performance-toolkit large profile)",
        throughput="~40 uncached page views/s, ~3,000 cached/s, ~60 orders/min",
        basis="~14 CPU of PHP-FPM and ~350 ms per uncached page: 14 / 0.35 = 40/s; checkout is bound by the "
        "database (Galera certifies every order write on all members) rather than by PHP",
    ),
}
