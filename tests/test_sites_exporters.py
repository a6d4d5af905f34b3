"""The stores' metrics under mocks (prod stack, two stores): an exporter sidecar in every nginx, PHP-FPM and
Varnish pod, wired to the status endpoint the generated configuration really serves, sized and counted by
the quota check and the capacity model, admitted by the site policies; one PodMonitor per store with the
Prometheus CRDs, none without. The exporters against real servers: tests/test_sites_exporters_servers.py."""

from __future__ import annotations

import fnmatch
import functools
import re

import pytest

from components import versions
from components.config import validate
from components.config.base import sized
from components.config.site_tiers import EXPORTER_RESOURCES
from components.config.types import parse_quantity
from components.platform.admission import allowed_registries
from components.platform.observability import exporters as metrics_table
from offline.capacity_pods import workloads
from offline.engine import Recording, run_program
from offline.references import pod_template
from offline.stackfile import settings_from_values
from sites.runtime import nginx as nginx_runtime
from sites.runtime import php_fpm as fpm_runtime
from tests.layer_helpers import schema_problems, stack_values
from tests.sites_support import sites_program
from tests.test_sites_workloads import SITES, objects, one, recording, site_config

TIERS = {  # workload kind and name -> (exporter container, image pin, table entry)
    ("Deployment", "nginx"): ("nginx-exporter", "nginx-exporter", "nginx-exporter"),
    ("Deployment", "php-fpm"): ("php-fpm-exporter", "php-fpm-exporter", "php-fpm-exporter"),
    ("StatefulSet", "varnish"): ("varnish-exporter", "varnish-exporter", "varnish-exporter"),
}


@pytest.fixture
def rec() -> Recording:
    return recording()


@functools.cache
def without_monitors() -> Recording:
    values = stack_values("prod")
    values.setdefault("platform", {}).setdefault("observability", {})["serviceMonitors"] = False
    return run_program(settings_from_values(values, stack="prod"), program=sites_program)


def containers(rec: Recording, site: str, kind: str, name: str) -> dict[str, dict]:
    return {c["name"]: c for c in pod_template(one(rec, f"site-{site}", kind, name))["spec"]["containers"]}


@pytest.mark.parametrize("site", SITES)
def test_every_tier_pod_runs_its_pinned_exporter_locked_down_and_probed(rec, site):
    for (kind, name), (container_name, pin, _) in TIERS.items():
        pod = containers(rec, site, kind, name)
        assert set(pod) == {name, container_name}, (site, name)
        exporter = pod[container_name]
        assert exporter["image"] == versions.image(pin).ref
        assert exporter["ports"] == [{"name": "metrics", "containerPort": exporter["ports"][0]["containerPort"], "protocol": "TCP"}]
        security = exporter["securityContext"]
        assert security["runAsNonRoot"] and security["runAsUser"] != 0 and security["readOnlyRootFilesystem"]
        assert security["capabilities"] == {"drop": ["ALL"]} and security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert security["allowPrivilegeEscalation"] is False
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert exporter[probe]["tcpSocket"] == {"port": "metrics"}, (name, probe)
        assert exporter["resources"] == EXPORTER_RESOURCES[name].as_k8s()


def test_exporters_read_the_status_endpoints_the_generated_configuration_serves(rec):
    site = "shop-fr"
    nginx_conf = one(rec, f"site-{site}", "ConfigMap", "nginx-conf")["data"]["nginx.conf"]
    scrape = next(a for a in containers(rec, site, "Deployment", "nginx")["nginx-exporter"]["args"] if a.startswith("--nginx.scrape-uri="))
    address, path = re.fullmatch(r"--nginx\.scrape-uri=http://(127\.0\.0\.1:\d+)(/\S+)", scrape).groups()
    # the server that listens on the loopback address is the one with stub_status, and only it
    status_server = nginx_conf[nginx_conf.index(f"listen {address};"):]
    assert f"location = {path} {{\n            stub_status;" in status_server
    assert nginx_conf.count("stub_status;") == 1 and nginx_conf.index("stub_status;") > nginx_conf.index(f"listen {address};")

    fpm_conf = one(rec, f"site-{site}", "ConfigMap", "magento-php")["data"]["php-fpm.conf"]
    scrape = next(a for a in containers(rec, site, "Deployment", "php-fpm")["php-fpm-exporter"]["args"] if a.startswith("--phpfpm.scrape-uri="))
    address, path = re.fullmatch(r"--phpfpm\.scrape-uri=tcp://(127\.0\.0\.1:\d+)(/\S+)", scrape).groups()
    assert f"pm.status_listen = {address}\n" in fpm_conf and f"pm.status_path = {path}\n" in fpm_conf
    assert address != f"127.0.0.1:{fpm_runtime.FPM_PORT}"  # not the pool the requests queue on
    assert nginx_runtime.STATUS_PORT not in {p["containerPort"] for c in containers(rec, site, "Deployment", "nginx").values() for p in c["ports"]}


def test_the_varnish_exporter_reads_varnishds_working_directory_as_its_user(rec):
    statefulset = one(rec, "site-shop-de", "StatefulSet", "varnish")
    pod = pod_template(statefulset)["spec"]
    varnishd, exporter = pod["containers"]
    workdir = varnishd["command"][varnishd["command"].index("-n") + 1]
    assert exporter["args"][exporter["args"].index("-n") + 1] == workdir
    (shared,) = exporter["volumeMounts"]
    (own,) = [m for m in varnishd["volumeMounts"] if m["name"] == shared["name"]]
    assert workdir.startswith(own["mountPath"] + "/") and shared["mountPath"] == own["mountPath"] and shared["readOnly"] is True
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == shared["name"])
    # the VSM files are mode 0640: the exporter runs as varnishd's user and group
    assert (exporter["securityContext"]["runAsUser"], exporter["securityContext"]["runAsGroup"]) == (
        varnishd["securityContext"]["runAsUser"], varnishd["securityContext"]["runAsGroup"])


@pytest.mark.parametrize("site", SITES)
def test_one_pod_monitor_per_store_scrapes_the_three_tiers(rec, site):
    (monitor,) = objects(rec, f"site-{site}", "PodMonitor")
    assert monitor["metadata"]["name"] == "site-metrics"
    assert schema_problems([r for r in rec.own_objects() if r.inputs is monitor]) == []
    spec = monitor["spec"]
    assert [e["port"] for e in spec["podMetricsEndpoints"]] == ["metrics"]
    selector = spec["selector"]
    for workload in objects(rec, f"site-{site}"):
        template = pod_template(workload)
        if template is None:
            continue
        labels = template["metadata"]["labels"]
        selected = all(labels.get(k) == v for k, v in selector["matchLabels"].items()) and all(
            labels.get(e["key"]) in e["values"] for e in selector["matchExpressions"])
        has_port = any(p.get("name") == "metrics" for c in template["spec"]["containers"] for p in c.get("ports", []))
        assert selected == has_port == ((workload["kind"], workload["metadata"]["name"]) in TIERS), workload["metadata"]["name"]


def test_without_the_prometheus_crds_no_pod_monitor_but_the_sidecars_stay():
    rec = without_monitors()
    assert objects(rec, kind="PodMonitor") == []
    assert "nginx-exporter" in containers(rec, "shop-fr", "Deployment", "nginx")


def test_the_exporters_table_finds_each_sidecar_image(rec):
    images = {c["image"] for (kind, name) in TIERS for c in containers(rec, "shop-fr", kind, name).values()}
    for _, _, entry in TIERS.values():
        what, pattern = metrics_table.EXPORTERS[entry].scraped_by
        assert what == "image" and any(fnmatch.fnmatchcase(image, pattern) for image in images), entry
        assert entry not in metrics_table.AWAITING


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_exporter_images_pass_the_registry_policy_and_come_through_harbors_proxy(stack):
    """Named by their upstream registry like every other image: admitted by site-allowed-registries, and once
    Harbor serves, containerd pulls them through its proxy-cache project of that registry."""
    config = validate(stack_values(stack))
    for _, pin, _ in TIERS.values():
        ref = versions.image(pin).ref
        registry = ref.split("/", 1)[0]
        assert any(ref.startswith(f"{r}/") for r in allowed_registries(config)), ref
        assert registry in config.platform.registry.proxy_cache, ref


@pytest.mark.parametrize("at", ["min", "max"])
def test_the_quota_check_counts_one_sidecar_per_tier_pod(monkeypatch, at):
    """Site.compute() (what the ResourceQuota check compares with the quota) holds the sidecars the pods request."""
    import components.config.sites as site_model

    site = site_config("shop-fr")
    tiers = site.tiers
    with_sidecars = site.compute(at)
    monkeypatch.setattr(site_model, "EXPORTER_RESOURCES", {t: sized("0", "0", "0", "0") for t in EXPORTER_RESOURCES})
    without = site.compute(at)
    pods = {"nginx": (tiers.nginx.min_replicas if at == "min" else tiers.nginx.max_replicas),
            "php-fpm": (tiers.php_fpm.min_replicas if at == "min" else tiers.php_fpm.max_replicas),
            "varnish": tiers.varnish.replicas}
    for key, field in (("requests.cpu", "cpu_request"), ("requests.memory", "memory_request"),
                       ("limits.cpu", "cpu_limit"), ("limits.memory", "memory_limit")):
        expected = sum(parse_quantity(getattr(EXPORTER_RESOURCES[t], field)) * n for t, n in pods.items())
        assert with_sidecars[key] - without[key] == expected > 0, key


def test_the_capacity_model_counts_the_sidecars(rec):
    found, _ = workloads(rec, 3)
    by_name = {(w.namespace, w.name): w for w in found}
    site = site_config("shop-de")
    nginx = by_name[("site-shop-de", "nginx")]
    assert nginx.cpu == parse_quantity(site.tiers.nginx.resources.cpu_request) + parse_quantity(EXPORTER_RESOURCES["nginx"].cpu_request)
    assert nginx.memory_limit == parse_quantity(site.tiers.nginx.resources.memory_limit) + parse_quantity(EXPORTER_RESOURCES["nginx"].memory_limit)
    varnish = by_name[("site-shop-de", "varnish")]
    assert varnish.memory == parse_quantity(site.tiers.varnish.resources.memory_request) + parse_quantity(EXPORTER_RESOURCES["varnish"].memory_request)
