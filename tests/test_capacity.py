"""The plan's capacity model: allocatable from the hosts' reservations, every pod placed as the scheduler
would, the tables, the stores that still fit, and the plan failing on a stack that cannot fit."""

from __future__ import annotations

from decimal import Decimal

from components.config.capacity import size_classes
from components.config.site_tiers import default_consumers
from offline.capacity import Node, _tolerates, eligible, place
from offline.capacity_pods import Workload
from offline.capacity_report import capacity_check, capacity_of, capacity_summary, console_lines, markdown
from offline.checks import CHECKS
from offline.summary import summarize
from tests.layer_helpers import problems
from tests.layer_helpers import stack_values as _stack_values

GI, MI = Decimal(2**30), Decimal(2**20)

def stack_values(stack: str) -> dict:
    """The stack file's `magento:*` settings (un-namespaced), to modify and run. For prod: single-member data
    services and no accepted problems, the variant of prod in which every replica can be placed."""
    values = {k: v for k, v in _stack_values(stack).items() if k != "disable-default-providers"}
    if stack == "prod":
        for service in ("mysql", "opensearch", "rabbitmq", "valkey"):
            values["data"][service]["replicas"] = 1
        values.pop("capacity", None)
    return values


def test_the_fitting_variant_of_prod_fits(run):
    result = capacity_check(run(stack_values("prod"), stack="prod"))
    assert result["checked"] > 30 and result["problems"] == [] and result["note"] is None


def test_an_accepted_problem_is_a_note_and_a_stale_one_fails(run):
    values = stack_values("prod")
    for host in values["hosts"][:2]:
        host["cpus"] = 2
    values["capacity"] = {"accepted": [
        {"workload": "Pod edge/envoy-shared", "reason": "reviewed: the proxies wait for the bigger servers"},
        {"workload": "Deployment nowhere/nothing", "reason": "a problem that was fixed long ago"}]}
    result = capacity_check(run(values, stack="prod"))
    assert not any(p.startswith("Pod edge/envoy-shared (") for p in result["problems"])
    assert "accepted (reviewed: the proxies wait for the bigger servers): Pod edge/envoy-shared (" in result["note"]
    assert "capacity.accepted: 'Deployment nowhere/nothing' matches no capacity problem any more: remove it" in result["problems"]



def _nodes(recording):
    model, _ = capacity_of(recording)
    return {n.name: n for n in model.rest.nodes}, {n.name: n for n in model.maximum.nodes}


def test_prod_allocatable_is_capacity_less_the_hosts_reservations(prod):
    rest, _ = _nodes(prod)
    # Pulumi.prod.yaml: 32 CPU / 125Gi; systemReserved 1 CPU / 2Gi + ARC 16Gi; kubeReserved 500m / 1Gi; eviction 500Mi.
    assert rest["node-a"].cpu == Decimal("30.5")
    assert rest["node-a"].memory == (125 * 1024 - 2048 - 16 * 1024 - 1024 - 500) * MI  # 108044Mi
    assert rest["node-b"].memory == rest["node-a"].memory
    # The witness: 4 CPU / 7680Mi, no pool (no ARC reserved).
    assert rest["witness"].cpu == Decimal("2.5")
    assert rest["witness"].memory == (7680 - 2048 - 1024 - 500) * MI  # 4108Mi
    assert rest["witness"].taints == [{"key": "magento.io/witness", "value": "true", "effect": "NoSchedule"}]


def test_prod_witness_runs_only_what_tolerates_it(prod):
    rest, _ = _nodes(prod)
    witness = rest["witness"]
    model, _ = capacity_of(prod)
    by_label = {w.label: w for w in model.groups}
    taint = {"key": "magento.io/witness", "value": "true", "effect": "NoSchedule"}
    # every pod there tolerates the witness taint; none of the stores' pods is there
    assert all(_tolerates(by_label[label].tolerations, taint) for label in witness.pods)
    assert not any(by_label[label].site for label in witness.pods)
    # what must be there: Cilium (agent 200m / 512Mi, cilium-envoy 100m / 128Mi: components/networking/cilium.py
    # defaults), the third Sentinel and OpenSearch's voting-only witness; one of each
    for label in ("DaemonSet kube-system/cilium", "DaemonSet kube-system/cilium-envoy", "StatefulSet valkey/valkey-sentinel",
                  "Pod opensearch/opensearch-witness", "Deployment mysql/mysql-garbd"):
        assert witness.pods.get(label) == 1, label
    # garbd (components/data/pxc_arbitrator.py): 50m / 64Mi; no PXC member there (no pool, 8Gi would not fit)
    assert (by_label["Deployment mysql/mysql-garbd"].cpu, by_label["Deployment mysql/mysql-garbd"].memory) == (Decimal("0.05"), 64 * MI)
    assert not any(label.startswith("Pod mysql/mysql-pxc") for label in witness.pods)
    assert (by_label["DaemonSet kube-system/cilium"].cpu, by_label["DaemonSet kube-system/cilium-envoy"].cpu) == (
        Decimal("0.2"), Decimal("0.1"))
    assert witness.used_cpu == sum(by_label[label].cpu * count for label, count in witness.pods.items())
    assert witness.used_memory == sum(by_label[label].memory * count for label, count in witness.pods.items())


def test_prod_demand_matches_the_summary_and_only_accepted_problems_remain(prod):
    model, _ = capacity_of(prod)
    result = capacity_check(prod)
    assert result["problems"] == []
    accepted = {a.workload for a in model.config.capacity.accepted}
    assert {p.split(" (")[0] for p in model.problems} == accepted  # each accepted entry matches, nothing else fails
    summary = summarize(prod)
    # summary.py counts a DaemonSet once per node and knows nothing of operator-made pods; the model runs a
    # DaemonSet only where it is tolerated and adds what operators create from our custom resources.
    from components.config.types import parse_quantity

    layer_cpu = sum(parse_quantity(v["compute"]["requests"]["cpu"]) for v in summary["layers"].values())
    witness = next(n for n in model.rest.nodes if n.name == "witness")
    skipped = sum(w.cpu for w in model.groups if w.daemon and not witness.pods.get(w.label))
    demand = sum(w.cpu * (len(model.rest.placed[w.label]) if w.daemon else w.replicas)
                 for w in model.groups if not w.source.startswith("operator"))
    assert demand == layer_cpu - skipped
    # The Envoy proxies of the shared Gateway: 2 x (envoy 250m + shutdown-manager 10m), from the EnvoyProxy.
    envoy = next(w for w in model.groups if w.source == "operator (Envoy Gateway, Gateway shared)")
    assert (envoy.replicas, envoy.cpu) == (2, Decimal("0.26"))


def test_prod_tables_and_stores_that_fit(prod):
    summary = capacity_summary(prod)
    workers = summary["nodeClasses"]["control-plane+worker"]
    assert workers["nodes"] == "node-a, node-b"
    assert workers["allocatable"] == "61 CPU / 211.02Gi"
    _, top = _nodes(prod)
    free = sum(top[n].cpu - top[n].used_cpu for n in ("node-a", "node-b"))
    free_memory = sum(top[n].memory - top[n].used_memory for n in ("node-a", "node-b"))
    for name, size in size_classes().items():
        expected = min(int(free // size.cpu_max), int(free_memory // size.memory_max))
        assert summary["moreStores"][name]["more"] == expected
    # A small store at its maxima, by hand from the small tiers (components/config/site_tiers.py): nginx 4 x 100m,
    # PHP-FPM 4 x 500m, Varnish 2 x 250m, WAF 6 x 250m, one cron run and every consumer at its maximum x 100m,
    # the release Job 500m, and the exporter sidecars (sites/exporters.py): nginx 4 x 10m, PHP-FPM 4 x 10m, Varnish 2 x 20m.
    cli = 1 + sum(group.max_replicas for group in default_consumers())
    small = Decimal("0.4") + Decimal("2") + Decimal("0.5") + Decimal("1.5") + cli * Decimal("0.1") + Decimal("0.5")
    small += Decimal("0.04") + Decimal("0.04") + Decimal("0.04")
    assert size_classes()["small"].cpu_max == small
    assert {"edge", "networking", "storage"} <= set(summary["layers"])
    lines = console_lines(summary)
    assert any(line.strip().startswith(f"more stores that fit: {summary['moreStores']['small']['more']} small") for line in lines)
    text = "\n".join(markdown(summary))
    assert "| control-plane+worker | node-a, node-b | 64 CPU / 250Gi |" in text
    assert "### More stores that fit" in text and "performance-toolkit small profile" in text


def test_dev_table_from_the_existing_cluster_allocatable(dev):
    summary = capacity_summary(dev)
    assert summary["nodeClasses"]["existing"]["allocatable"] == "8 CPU / 31Gi"
    rest, _ = _nodes(dev)
    node = rest["node-1"]
    # One node: every DaemonSet and every single-replica Deployment lands on it.
    model, _ = capacity_of(dev)
    assert model.problems == []
    assert node.used_cpu == sum(w.cpu * (1 if w.daemon else w.replicas) for w in model.groups)
    free = node.cpu - node.used_cpu
    assert summary["moreStores"]["small"]["more"] == min(int(free // size_classes()["small"].cpu_max),
                                                         int((node.memory - node.used_memory) // size_classes()["small"].memory_max))


def test_capacity_is_a_plan_check():
    assert "capacity" in CHECKS


def test_over_full_stack_fails_naming_the_biggest_consumers(run):
    values = stack_values("prod")
    for host in values["hosts"][:2]:
        host["cpus"] = 2  # 2 - 1 - 0.5 = 500m allocatable each
    result = capacity_check(run(values, stack="prod"))
    text = "\n".join(result["problems"])
    assert "requests exceed the free allocatable" in text
    assert "biggest consumers there:" in text


def test_losing_a_worker_warns_when_the_other_cannot_take_its_pods(run):
    base = run(stack_values("prod"), stack="prod")
    # the witness is listed too: the etcd-backup CronJob runs on any control plane (it tolerates the witness taint)
    assert capacity_summary(base)["nodeLoss"] == {
        name: "everything at rest fits on the other nodes" for name in ("node-a", "node-b", "witness")}
    model, _ = capacity_of(base)
    at_rest = sum(n.used_memory for n in model.rest.nodes if n.name != "witness")
    at_maximum = sum(n.used_memory for n in model.maximum.nodes if n.name != "witness")
    # each worker's allocatable memory (memory - 2Gi system - 16Gi ARC - 1Gi kube - 500Mi eviction) holds 55% of
    # the workers' requests at maximum: two hold everything, one alone does not hold what runs at rest
    allocatable = int(at_maximum * Decimal("0.55") / MI)
    assert allocatable * MI < at_rest
    values = stack_values("prod")
    for host in values["hosts"][:2]:
        host["memory"] = f"{allocatable + 2048 + 16384 + 1024 + 500}Mi"
    recording = run(values, stack="prod")
    result = capacity_check(recording)
    assert result["problems"] == []
    assert "capacity: without node-a (a kured reboot or a failure), " in result["note"]
    assert "requests exceed the free allocatable" in result["note"]
    assert capacity_summary(recording)["nodeLoss"]["node-b"].endswith("workload(s) short of room")


def test_pod_larger_than_any_node_fails(run):
    values = stack_values("prod")
    values["edge"]["resources"] = {"envoyProxy": {"cpuRequest": "40", "memoryRequest": "1Gi", "cpuLimit": "40", "memoryLimit": "1Gi"}}
    result = capacity_check(run(values, stack="prod"))
    assert any("Gateway shared" in p and "a single pod is larger than any node it may run on (largest: node-a, 30500m CPU"
               in p for p in result["problems"]), result["problems"]


def test_missing_host_sizes_leave_a_note_not_a_failure(run):
    values = stack_values("prod")
    for host in values["hosts"]:
        host.pop("cpus")
    result = capacity_check(run(values, stack="prod"))
    assert result["problems"] == [] and "hosts[0].cpus" in result["note"]


def test_growth_must_name_a_configured_site():
    values = stack_values("prod")
    values["capacity"] = {"growth": [{"site": "nowhere", "products": 10}]}
    assert problems(values) == {"capacity.growth[0].site": "'nowhere' is not a configured site"}


# ----------------------------------------------------------------------- scheduler semantics, unit level

def _node(name: str, zone: str, cpu: str = "8", taints: list | None = None) -> Node:
    return Node(name=name, node_class="worker", cpu=Decimal(cpu), memory=16 * GI, capacity_cpu=Decimal(cpu),
                capacity_memory=16 * GI, reserved={}, taints=taints or [],
                labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}, pool=None, has_pool=True)


def _workload(replicas: int, maximum: int, spread: list | None = None, **extra) -> Workload:
    return Workload(layer="sites", kind="Deployment", namespace="site-a", name="waf", source="program", cpu=Decimal("0.25"),
                    memory=256 * MI, cpu_limit=Decimal(1), memory_limit=512 * MI, replicas=replicas, maximum=maximum,
                    autoscaler="HorizontalPodAutoscaler waf 2-6", spread=spread or [], **extra)


WITNESS_TAINT = [{"key": "magento.io/witness", "value": "true", "effect": "NoSchedule"}]


def test_tainted_witness_caps_a_hard_host_spread_at_its_autoscaler_maximum():
    nodes = [_node("node-a", "a"), _node("node-b", "b"), _node("witness", "w", taints=WITNESS_TAINT)]
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]
    result = place(nodes, [_workload(2, 6, spread)])
    # nodeTaintsPolicy defaults to Ignore: the witness is a domain holding 0 pods, so a third replica would skew by 2.
    assert sorted(result.placed["Deployment site-a/waf"]) == ["node-a", "node-b"]
    assert len(result.problems) == 1
    assert "replica 3 of 6 at its autoscaler maximum (HorizontalPodAutoscaler waf 2-6)" in result.problems[0]
    assert "nodeTaintsPolicy" in result.problems[0]
    honoured = [{**spread[0], "nodeTaintsPolicy": "Honor"}]
    nodes = [_node("node-a", "a"), _node("node-b", "b"), _node("witness", "w", taints=WITNESS_TAINT)]
    result = place(nodes, [_workload(2, 6, honoured)])
    assert result.problems == [] and len(result.placed["Deployment site-a/waf"]) == 6


def test_required_anti_affinity_needs_a_node_per_replica():
    nodes = [_node("node-a", "a"), _node("node-b", "b")]
    result = place(nodes, [_workload(3, 3, anti_affinity_keys=["kubernetes.io/hostname"])])
    assert len(result.placed["Deployment site-a/waf"]) == 2
    assert "replica 3 of 3 cannot be scheduled: its required anti-affinity" in result.problems[0]


def test_claims_need_a_node_with_a_pool_and_tolerations_match_taints():
    pool = _node("node-a", "a")
    bare = _node("witness", "w", taints=WITNESS_TAINT)
    bare.has_pool = False
    claiming = _workload(1, 1, claims=[("data", 10 * GI, "zfs")])
    assert eligible(claiming, pool) and not eligible(claiming, bare)
    tolerant = _workload(1, 1, tolerations=[{"key": "magento.io/witness", "operator": "Exists", "effect": "NoSchedule"}])
    assert eligible(tolerant, bare)
    assert not eligible(_workload(1, 1, tolerations=[{"key": "magento.io/witness", "value": "false"}]), bare)


def test_dev_site_row_by_hand(dev):
    """The demo store's row in the per-site table, from Pulumi.dev.yaml's tiers and the defaults they leave,
    each pod's containers summed by hand."""
    row = capacity_summary(dev)["sites"]["demo"]
    m = MI
    # (CPU request, memory request, CPU limit, memory limit) per pod at rest, one replica each:
    pods = {
        # small nginx 100m/64Mi (500m/128Mi) + exporter 10m/16Mi (100m/32Mi): components/config/site_tiers.py
        "nginx": (Decimal("0.11"), 80 * m, Decimal("0.6"), 160 * m),
        # small PHP-FPM 500m/1Gi (2/2Gi) + exporter 10m/16Mi (100m/32Mi)
        "php-fpm": (Decimal("0.51"), 1040 * m, Decimal("2.1"), 2080 * m),
        # dev Varnish 100m/512Mi (1/512Mi) + exporter 20m/32Mi (200m/64Mi)
        "varnish": (Decimal("0.12"), 544 * m, Decimal("1.2"), 576 * m),
        # the WAF's defaults 250m/256Mi (1/512Mi): components/config/sites.py SiteWaf
        "waf": (Decimal("0.25"), 256 * m, Decimal(1), 512 * m),
        # the dev cli tier 100m/256Mi (1/1Gi): the cron run and the release's resume Job
        "cron": (Decimal("0.1"), 256 * m, Decimal(1), 1024 * m),
        "resume": (Decimal("0.1"), 256 * m, Decimal(1), 1024 * m),
        # the dev release tier 250m/512Mi (2/2Gi)
        "release": (Decimal("0.25"), 512 * m, Decimal(2), 2048 * m),
        # the store's database tenancy Job in the mysql namespace, 50m/64Mi (200m/128Mi): components/data/tenancy_sql.py
        "tenancy": (Decimal("0.05"), 64 * m, Decimal("0.2"), 128 * m),
    }
    cpu, memory = sum(p[0] for p in pods.values()), sum(p[1] for p in pods.values())
    assert (cpu, memory) == (Decimal("1.49"), 3008 * m)
    assert row["pods"] == "8"
    assert (row["cpuRequests"], row["memoryRequests"]) == ("1490m", "2.94Gi")  # 3008Mi
    assert (row["cpuLimits"], row["memoryLimits"]) == ("9100m", "7.38Gi")  # 7552Mi
    # at maximum the two consumer groups (KEDA 0-1, the cli tier each) run as well: + 2 x 100m / 256Mi
    assert (row["cpuAtMaximum"], row["memoryAtMaximum"]) == ("1690m", "3.44Gi")  # 3520Mi
    assert row["quota"] == "8 CPU / 16Gi"


def test_size_classes_state_their_throughput_and_what_it_rests_on():
    small = size_classes()["small"]
    # PHP-FPM at its maximum 4 x 500m requested (2 limit) at ~250 ms per uncached page: 2 / 0.25 = 8 pages/s,
    # 8 / 0.25 = 32 bursting; the WAF 6 x 250m at ~1.5 ms per request: 1.5 / 0.0015 = 1000 cached/s;
    # orders: 20% of 2 CPU over 60 s at ~3 CPU-s each = 8/min.
    assert small.throughput == "~8 uncached page views/s (~32 bursting to CPU limits), ~1000 cached/s, ~8 orders/min"
    assert small.basis.startswith("PHP-FPM at its maximum 4 x 500m CPU requested (2 limit) at ~250 ms of one PHP core")
    medium = size_classes()["medium"]
    # 8 x 1 CPU / 0.30 = 27 pages/s (8 x 4 / 0.3 = 107 bursting); orders 8 x 0.2 x 60 / 3 = 32/min
    assert medium.throughput.startswith("~27 uncached page views/s (~107 bursting") and medium.throughput.endswith("~32 orders/min")
    for size in size_classes().values():
        assert "performance-toolkit" in size.catalog
