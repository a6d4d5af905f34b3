"""The plan's storage model: claims against each node's ZFS pool (a mirror halves raw), data growth from
configuration against the data volumes, and the warning threshold."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from offline import capacity_storage as cs
from offline.capacity import nodes_of, place
from offline.capacity_pods import Workload
from offline.capacity_report import capacity_check, capacity_of, capacity_summary
from tests.layer_helpers import stack_values as _stack_values

GI, KI, MI = Decimal(2**30), Decimal(2**10), Decimal(2**20)
DISK = Decimal(3840755982336)  # Pulumi.prod.yaml zfs.diskSize

def stack_values(stack: str) -> dict:
    """The stack file's `magento:*` settings (un-namespaced), to modify and run."""
    return {k: v for k, v in _stack_values(stack).items() if k != "disable-default-providers"}



def test_pool_usable_is_one_disk_of_the_mirror_less_slop(prod):
    _, storage = capacity_of(prod)
    pools = {p.node: p for p in storage.pools}
    assert set(pools) == {"node-a", "node-b"}  # the witness has no pool
    assert pools["node-a"].usable == DISK - DISK / 32  # 2 disks of 3.84 TB mirrored: one disk, less 1/32 slop
    assert capacity_summary(prod)["storage"]["pools"]["node-a"]["usable"] == "3465.2Gi"


def _with_growth(growth: list[dict], **data) -> dict:
    values = stack_values("prod")
    values["capacity"] = {**values.get("capacity", {}), "horizonDays": 365, "storageWarnPercent": 80, "growth": growth}
    for service, storage in data.items():
        values["data"][service]["storage"] = storage
    return values


def _mysql_bytes(products, views, customers, orders, per_day) -> Decimal:
    """The documented formula, by hand: two stores' schemas (shop-de holds nothing), x1.3, plus logs."""
    schema = 2 * 400 * MI + products * views * 48 * KI + customers * 8 * KI + orders * 40 * KI
    return schema * Decimal("1.3") + 3 * GI + per_day * 7 * 80 * KI


def test_growth_past_the_threshold_warns(run):
    growth = {"site": "shop-fr", "products": 400_000, "storeViews": 5, "customers": 50_000, "orders": 700_000,
              "ordersPerDay": 800, "customersPerDay": 0}
    recording = run(_with_growth([growth]), stack="prod")
    _, storage = capacity_of(recording)
    mysql = next(p for p in storage.projections if p.service == "mysql")
    assert mysql.now == _mysql_bytes(400_000, 5, 50_000, 700_000, 800)
    assert mysql.later == _mysql_bytes(400_000, 5, 50_000, 700_000 + 800 * 365, 800)
    assert mysql.now * 100 / (200 * GI) < 80 < mysql.percent < 100  # ~159Gi today, ~173Gi in a year, of 200Gi
    result = capacity_check(recording)
    assert result["problems"] == []
    assert "data.mysql.storage 200Gi would be" in result["note"] and "past the 80% warning threshold" in result["note"]
    # OpenSearch: 400,000 x 5 x 12Ki primary, 2 copies over 3 nodes, x2 while reindexing, + 1Gi.
    search = next(p for p in storage.projections if p.service == "opensearch")
    assert search.now == 400_000 * 5 * 12 * KI * 2 * 2 / 3 + GI


def test_outgrown_within_the_horizon_warns_and_too_small_today_fails(run):
    growth = {"site": "shop-fr", "products": 1000, "orders": 0, "ordersPerDay": 20_000}
    result = capacity_check(run(_with_growth([growth], mysql="50Gi"), stack="prod"))
    assert result["problems"] == []
    assert "data.mysql.storage 50Gi is outgrown within 365 days" in result["note"]
    result = capacity_check(run(_with_growth([{"site": "shop-fr", "products": 2_000_000}], mysql="50Gi"), stack="prod"))
    assert any(p.startswith("storage: data.mysql.storage 50Gi is smaller than the") for p in result["problems"])


def test_claims_beyond_a_pool_fail_and_near_full_warns(prod):
    model, storage = capacity_of(prod)
    # What the stack's own volumes already claim on each pool (the data services' members, by placement).
    base = {p.node: p.claimed for p in storage.pools}
    assert base["node-a"] > 0 and base["node-b"] > 0
    database = Workload(layer="data", kind="StatefulSet", namespace="data", name="db", source="program", cpu=Decimal(1),
                        memory=GI, cpu_limit=Decimal(1), memory_limit=GI, replicas=2, maximum=2,
                        anti_affinity_keys=["kubernetes.io/hostname"], claims=[("data", 2500 * GI, "zfs-db")])
    nodes, _ = nodes_of(model.config)
    rest = place(nodes, [*model.groups, database])
    near = cs.storage_report(dataclasses.replace(model, nodes=nodes, rest=rest, groups=[*model.groups, database]))
    assert near.problems == []
    usable = DISK - DISK / 32
    for node in ("node-a", "node-b"):  # one replica per node (required anti-affinity), 2500Gi each
        percent = (base[node] + 2500 * GI) * 100 / usable
        assert percent > 80
        assert f"the ZFS pool of {node} would be {percent:.0f}% claimed, past the 80% warning threshold" in "\n".join(near.warnings)
    big = dataclasses.replace(database, name="db-big", claims=[("data", 3500 * GI, "zfs-db")])
    nodes, _ = nodes_of(model.config)
    rest = place(nodes, [*model.groups, big])
    full = cs.storage_report(dataclasses.replace(model, nodes=nodes, rest=rest, groups=[*model.groups, big]))
    assert len(full.problems) == 2
    assert "more than its ZFS pool's usable 3465.2Gi (thinprovision: no reserves each claim)" in full.problems[0]
    assert "StatefulSet data/db-big data-0 3500Gi" in full.problems[0] or "data-1" in full.problems[0]


def test_claims_never_land_on_a_node_without_a_pool(prod):
    model, _ = capacity_of(prod)
    tolerant = Workload(layer="data", kind="StatefulSet", namespace="data", name="quorum", source="program", cpu=Decimal("0.1"),
                        memory=128 * MI, cpu_limit=Decimal(1), memory_limit=GI, replicas=3, maximum=3,
                        tolerations=[{"operator": "Exists"}], anti_affinity_keys=["kubernetes.io/hostname"],
                        claims=[("data", GI, "zfs")])
    nodes, _ = nodes_of(model.config)
    rest = place(nodes, [*model.groups, tolerant])
    assert sorted(rest.placed["StatefulSet data/quorum"]) == ["node-a", "node-b"]
    assert any("replica 3 of 3 cannot be scheduled" in p for p in rest.problems)
