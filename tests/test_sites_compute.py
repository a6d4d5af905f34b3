"""The compute a store holds, summed from the objects the sites layer renders (two prod stores under mocks),
as the scheduler and the ResourceQuota count it: per pod the larger of its containers' sum and its largest
init container, times the replicas at the autoscalers' minimum or maximum (HPA, KEDA ScaledObject), one
cron run, the release Job (the resume Job runs after it has finished). It must equal `Site.compute()`, the
number the config check compares with the quota, stay inside the rendered quota, and be what docs/sites.md
states for one small store."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest

from components.sizing import parse_quantity
from offline.references import pod_template
from tests.test_sites_workloads import objects, recording, site_config

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def replicas(obj: dict[str, Any], scalers: dict[str, dict[str, Any]], at: Literal["min", "max"]) -> int:
    kind, name, spec = obj["kind"], obj["metadata"]["name"], obj["spec"]
    if kind in ("CronJob", "Job"):
        return 1  # concurrencyPolicy Forbid: one cron run at a time; one release Job
    scaler = scalers.get(name)
    if scaler is None:
        return spec["replicas"]
    if scaler["kind"] == "HorizontalPodAutoscaler":
        return scaler["spec"]["minReplicas"] if at == "min" else scaler["spec"]["maxReplicas"]
    return scaler["spec"]["minReplicaCount"] if at == "min" else scaler["spec"]["maxReplicaCount"]


def request(container: dict[str, Any], key: str) -> Decimal:
    kind, resource = key.split(".")
    return parse_quantity(container.get("resources", {}).get(kind, {}).get(resource, "0"))


def pod_resources(spec: dict[str, Any]) -> dict[str, Decimal]:
    return {
        key: max(sum((request(c, key) for c in spec["containers"]), Decimal(0)),
                 max((request(c, key) for c in spec.get("initContainers", [])), default=Decimal(0)))
        for key in KEYS
    }


def rendered_compute(site: str, at: Literal["min", "max"]) -> dict[str, Decimal]:
    namespace = f"site-{site}"
    everything = objects(recording(), namespace)
    scalers = {o["spec"]["scaleTargetRef"]["name"]: o for o in everything if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")}
    total = dict.fromkeys(KEYS, Decimal(0))
    for obj in everything:
        template = pod_template(obj)
        if template is None or (obj["kind"] == "Job" and obj["metadata"]["name"].startswith("resume-")):
            continue
        count, per_pod = replicas(obj, scalers, at), pod_resources(template["spec"])
        for key in KEYS:
            total[key] += per_pod[key] * count
    return total


@pytest.mark.parametrize("site", ["shop-fr", "shop-de"])
@pytest.mark.parametrize("at", ["min", "max"])
def test_the_quota_check_counts_what_the_store_renders(site, at):
    assert rendered_compute(site, at) == site_config(site).compute(at)


@pytest.mark.parametrize("site", ["shop-fr", "shop-de"])
def test_the_store_at_its_maxima_fits_its_rendered_quota(site):
    (quota,) = objects(recording(), f"site-{site}", "ResourceQuota")
    hard = quota["spec"]["hard"]
    need = rendered_compute(site, "max")
    for key in KEYS:
        assert need[key] <= parse_quantity(hard[key]), (key, need[key], hard[key])


def test_docs_state_the_compute_of_one_small_store():
    assert site_config("shop-de").size == "small"
    text = " ".join((ROOT / "docs" / "sites.md").read_text().split())
    stated = re.search(r"\*\*([\d.]+) CPU and ([\d.]+) GiB of requests\*\* \(([\d.]+) CPU, ([\d.]+) GiB of limits\)", text)
    assert stated, "docs/sites.md no longer states the compute of one small store"
    at_min = rendered_compute("shop-de", "min")
    gib = Decimal(2) ** 30
    assert [Decimal(v) for v in stated.groups()] == [
        at_min["requests.cpu"], at_min["requests.memory"] / gib, at_min["limits.cpu"], at_min["limits.memory"] / gib,
    ]
