"""The storage model of the plan: every volume claim against the ZFS pool of the node it lands on, and the
data services' volumes against the data the stores will hold after `capacity.horizonDays`.

Pools: a host's pool is a two-disk mirror, so its usable size is one disk (`zfs.diskSize`) less ZFS's
slop space (1/32). LocalPV-ZFS volumes are created with `thinprovision: no` (components/storage), so each
claim reserves its full size on the pool when it is bound: claims beyond the pool fail the plan; a pool
claimed past `capacity.storageWarnPercent` is a warning. A claim goes where the capacity model placed the
pod that mounts it; a claim no pod mounts goes to the pool with the most room.

Growth: `capacity.growth` gives each store's catalog, customers and orders today and per day. The figures
below turn them into bytes; they are assumptions, written down so that they can be corrected from a real
store (docs/capacity.md says how to measure them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from components.config.types import parse_quantity
from offline.capacity import CapacityModel
from offline.summary import format_memory

KIB, MIB, GIB = 2**10, 2**20, 2**30

# ---------------------------------------------------------------------------- assumptions (bytes)
# MySQL (InnoDB, data + indexes), per store:
MYSQL_BASE = 400 * MIB  # an installed Magento 2.4.8 schema with its ~500 tables before any catalog
MYSQL_PER_PRODUCT_VIEW = 48 * KIB  # EAV values, URL rewrites, price/EAV/category indexes, inventory, per product and store view
MYSQL_PER_CUSTOMER = 8 * KIB  # customer entity, addresses, grid row, visitor log
MYSQL_PER_ORDER = 40 * KIB  # order, ~3 items, 2 addresses, payment, grid, history, invoice, shipment, converted quote
# Per volume: binary logs kept locally (PITR uploads them, MySQL keeps binlog_expire_logs_seconds' worth) as
# days of row events, InnoDB redo/undo/doublewrite and Galera's gcache.
BINLOG_DAYS = 7
BINLOG_PER_ORDER = 2 * MYSQL_PER_ORDER  # row images of every write an order makes (quote, order, stock, indexes)
MYSQL_FIXED = 3 * GIB  # redo 100Mi, undo, doublewrite, gcache, temporary tablespace
MYSQL_DDL_FACTOR = Decimal("1.3")  # room for setup:upgrade's table copies (ALTER TABLE ... ALGORITHM=COPY)
# OpenSearch, per store: the product index (one per store view), rebuilt beside the live one on a full reindex.
OPENSEARCH_PER_PRODUCT_VIEW = 12 * KIB  # primary shard bytes per product document
OPENSEARCH_REPLICAS = 1  # one replica of every shard (a store's index survives a node)
OPENSEARCH_REINDEX_FACTOR = 2  # a full reindex builds the new index before the alias moves
OPENSEARCH_FIXED = 1 * GIB  # system indices, translog
# Valkey persists snapshots: a BGSAVE writes a second copy beside the first before it replaces it.
VALKEY_SNAPSHOT_FACTOR = 2


@dataclass
class PoolUse:
    node: str
    usable: Decimal
    claimed: Decimal
    claims: list[tuple[str, Decimal]]

    @property
    def percent(self) -> Decimal:
        return (self.claimed * 100 / self.usable) if self.usable else Decimal(0)


@dataclass
class Projection:
    service: str
    volume: Decimal  # per replica
    now: Decimal
    later: Decimal
    basis: str
    grows: bool = True

    @property
    def percent(self) -> Decimal:
        return self.later * 100 / self.volume if self.volume else Decimal(0)


@dataclass
class StorageReport:
    pools: list[PoolUse]
    projections: list[Projection]
    problems: list[str]
    warnings: list[str]
    horizon_days: int
    warn_percent: int


def _pools(capacity: CapacityModel) -> tuple[list[PoolUse], list[str]]:
    problems: list[str] = []
    pools = {n.name: PoolUse(n.name, n.pool, Decimal(0), []) for n in capacity.nodes if n.pool is not None}
    if not pools:
        return [], problems
    by_label = {w.label: w for w in capacity.groups}
    for label, names in capacity.rest.placed.items():
        for replica, node in enumerate(names):
            for claim, size, _ in by_label[label].claims:
                if node in pools:
                    pools[node].claimed += size
                    pools[node].claims.append((f"{label} {claim}-{replica}", size))
    for name, size, _, _ in sorted(capacity.unmounted, key=lambda c: c[1], reverse=True):
        target = max(pools.values(), key=lambda p: p.usable - p.claimed)
        target.claimed += size
        target.claims.append((f"PersistentVolumeClaim {name} (mounted by no pod we render)", size))
    for pool in pools.values():
        if pool.claimed > pool.usable:
            biggest = ", ".join(f"{c} {format_memory(s)}" for c, s in sorted(pool.claims, key=lambda c: c[1], reverse=True)[:3])
            problems.append(f"storage: volumes placed on {pool.node} claim {format_memory(pool.claimed)}, more than its ZFS pool's "
                            f"usable {format_memory(pool.usable)} (thinprovision: no reserves each claim); biggest: {biggest}")
    return list(pools.values()), problems


def _mysql(capacity: CapacityModel, days: int) -> Projection:
    config = capacity.config
    now = later = Decimal(0)
    binlog = Decimal(0)
    for site in config.sites:
        growth = next((g for g in config.capacity.growth if g.site == site.name), None)
        products, views = (growth.products, growth.store_views) if growth else (0, 1)
        customers, orders = (growth.customers, growth.orders) if growth else (0, 0)
        per_day = (growth.orders_per_day, growth.customers_per_day) if growth else (0, 0)
        base = MYSQL_BASE + products * views * MYSQL_PER_PRODUCT_VIEW
        now += base + customers * MYSQL_PER_CUSTOMER + orders * MYSQL_PER_ORDER
        later += base + (customers + per_day[1] * days) * MYSQL_PER_CUSTOMER + (orders + per_day[0] * days) * MYSQL_PER_ORDER
        binlog += per_day[0] * BINLOG_DAYS * BINLOG_PER_ORDER
    fixed = MYSQL_FIXED + binlog
    return Projection(
        "mysql", parse_quantity(config.data.mysql.storage), now * MYSQL_DDL_FACTOR + fixed, later * MYSQL_DDL_FACTOR + fixed,
        f"every member holds every store's schema (Galera); x{MYSQL_DDL_FACTOR} room for table copies; "
        f"{BINLOG_DAYS} days of binary logs, {format_memory(Decimal(MYSQL_FIXED))} of logs and caches",
    )


def _opensearch(capacity: CapacityModel) -> Projection:
    config = capacity.config
    replicas = config.replicas_for(config.data.opensearch)
    primary = Decimal(0)
    for growth in config.capacity.growth:
        primary += growth.products * growth.store_views * OPENSEARCH_PER_PRODUCT_VIEW
    copies = min(1 + OPENSEARCH_REPLICAS, replicas)
    per_node = primary * copies * OPENSEARCH_REINDEX_FACTOR / replicas + OPENSEARCH_FIXED
    return Projection(
        "opensearch", parse_quantity(config.data.opensearch.storage), per_node, per_node,
        f"{copies} cop{'y' if copies == 1 else 'ies'} of every shard over {replicas} node(s), x{OPENSEARCH_REINDEX_FACTOR} "
        "during a full reindex (the catalog does not grow with orders)", grows=False,
    )


def _valkey(capacity: CapacityModel) -> Projection:
    data = capacity.config.data.valkey
    need = parse_quantity(data.resources.memory_limit) * VALKEY_SNAPSHOT_FACTOR
    return Projection("valkey", parse_quantity(data.storage), need, need,
                      f"a snapshot of a full memory limit beside the previous one (x{VALKEY_SNAPSHOT_FACTOR})", grows=False)


def storage_report(capacity: CapacityModel) -> StorageReport:
    config = capacity.config
    days, warn = config.capacity.horizon_days, config.capacity.storage_warn_percent
    pools, problems = _pools(capacity)
    warnings = [
        f"storage: the ZFS pool of {p.node} would be {p.percent:.0f}% claimed, past the {warn}% warning threshold"
        for p in pools if p.claimed <= p.usable and p.percent > warn
    ]
    projections = [_mysql(capacity, days), _opensearch(capacity), _valkey(capacity)]
    for p in projections:
        if p.now > p.volume:
            problems.append(f"storage: data.{p.service}.storage {format_memory(p.volume)} is smaller than the "
                            f"{format_memory(p.now)} it needs today ({p.basis})")
        elif p.later > p.volume:
            warnings.append(f"storage: data.{p.service}.storage {format_memory(p.volume)} is outgrown within {days} days: it "
                            f"needs {format_memory(p.later)} ({p.basis})")
        elif p.percent > warn:
            when = f"after {days} days " if p.grows else ""
            warnings.append(f"storage: data.{p.service}.storage {format_memory(p.volume)} would be {p.percent:.0f}% full "
                            f"{when}({format_memory(p.later)}: {p.basis}), past the {warn}% warning threshold")
    return StorageReport(pools, projections, problems, warnings, days, warn)
