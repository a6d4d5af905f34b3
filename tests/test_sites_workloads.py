"""Two stores of the prod stack built under mocks, each on its own tenancy: every object per store, names,
schemas, references, network paths, env.php wiring (read back by PHP), security contexts, release order."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections import Counter
from typing import Any

import pytest

from components import sizing
from components.config import validate
from offline.engine import Recorded, Recording, run_program
from offline.references import check_references, pod_template
from offline.stackfile import settings_from_values
from sites.runtime import varnish as varnish_runtime
from tests.layer_helpers import comes_after, schema_problems, stack_values
from tests.sites_support import sites_program

SITES = ("shop-fr", "shop-de")


@functools.cache
def recording() -> Recording:
    return run_program(settings_from_values(stack_values("prod"), stack="prod"), program=sites_program)


@pytest.fixture
def rec() -> Recording:
    return recording()


def objects(rec: Recording, namespace: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        r.inputs for r in rec.own_objects()
        if (namespace is None or r.inputs["metadata"].get("namespace") == namespace) and (kind is None or r.inputs["kind"] == kind)
    ]


def one(rec: Recording, namespace: str, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(rec, namespace, kind) if o["metadata"]["name"] == name]
    return found


def record(rec: Recording, namespace: str, kind: str, name: str) -> Recorded:
    (found,) = [r for r in rec.own_objects() if r.inputs["kind"] == kind and r.inputs["metadata"]["name"] == name
                and r.inputs["metadata"].get("namespace") == namespace]
    return found


def site_config(name: str):
    (site,) = [s for s in validate(stack_values("prod")).sites if s.name == name]
    return site


# --------------------------------------------------------------------------------------- objects


def expected_objects(site) -> set[tuple[str, str]]:
    release = site.release_name
    expected = {
        ("Namespace", f"site-{site.name}"), ("ResourceQuota", "site-quota"), ("LimitRange", "container-defaults"),
        ("Secret", "magento-env"), ("ConfigMap", "magento-php"), ("ConfigMap", "magento-release-scripts"),
        ("ConfigMap", "nginx-conf"), ("ConfigMap", "varnish-vcl"),
        ("Deployment", "php-fpm"), ("Service", "php-fpm"), ("HorizontalPodAutoscaler", "php-fpm"), ("PodDisruptionBudget", "php-fpm"),
        ("Deployment", "nginx"), ("Service", "nginx"), ("HorizontalPodAutoscaler", "nginx"), ("PodDisruptionBudget", "nginx"),
        ("StatefulSet", "varnish"), ("Service", "varnish"), ("Service", "varnish-peers"), ("PodDisruptionBudget", "varnish"),
        ("CronJob", "cron"), ("Secret", "rabbitmq-keda"), ("TriggerAuthentication", "rabbitmq"),
        ("Job", f"release-{release}"), ("Job", f"resume-{release}"),
        ("ServiceAccount", "release"), ("Role", "release"), ("RoleBinding", "release"),
        ("Deployment", "waf"), ("Service", "waf"), ("HTTPRoute", f"{site.name}-storefront"), ("HTTPRoute", f"{site.name}-admin"),
        ("BackendTrafficPolicy", f"{site.name}-rate-limits"), ("CiliumNetworkPolicy", "release-to-apiserver"),
    }
    for group in site.consumers:
        expected |= {("Deployment", f"consumer-{group.name}"), ("ScaledObject", f"consumer-{group.name}")}
    return expected


@pytest.mark.parametrize("name", SITES)
def test_every_object_of_a_store_exists(rec, name):
    site = site_config(name)
    found = {(o["kind"], o["metadata"]["name"]) for o in objects(rec) if o["metadata"].get("namespace") == f"site-{name}"}
    found |= {("Namespace", o["metadata"]["name"]) for o in objects(rec, kind="Namespace")}
    missing = expected_objects(site) - found
    assert not missing, missing


def test_no_name_collides_within_or_across_stores(rec):
    keys = Counter((o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects(rec))
    assert [k for k, n in keys.items() if n > 1] == []
    assert {o["metadata"]["name"] for o in objects(rec, kind="Namespace")} == {f"site-{n}" for n in SITES}


def test_objects_validate_against_their_schemas(rec):
    assert schema_problems(rec.own_objects()) == []


def test_references_resolve_with_the_platform(rec, prod):
    ours = {f"site-{name}" for name in SITES}
    platform = [r.inputs for r in prod.own_objects()
                if r.inputs["metadata"].get("namespace") not in ours and not (r.inputs["kind"] == "Namespace" and r.inputs["metadata"]["name"] in ours)]
    combined = platform + objects(rec)
    problems = [str(p) for p in check_references(combined) if "site-" in str(p)]
    assert problems == []


# --------------------------------------------------------------------------------------- security


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = (pod_template(obj) or {}).get("spec") or {}
    return (spec.get("initContainers") or []) + spec.get("containers", [])


def test_every_container_is_locked_down_with_a_read_only_root(rec):
    workloads = [o for o in objects(rec) if pod_template(o) is not None]
    assert len(workloads) == 2 * 11  # php-fpm, nginx, varnish, waf, cron, 4 consumer groups, release, resume
    for obj in workloads:
        pod = pod_template(obj)["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(obj):
            ctx = container["securityContext"]
            where = f"{obj['kind']} {obj['metadata']['name']}/{container['name']}"
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert container["resources"]["limits"] and container["resources"]["requests"], where


def test_writable_paths_are_emptydirs_only_where_magento_writes(rec):
    fpm = one(rec, "site-shop-fr", "Deployment", "php-fpm")
    pod = pod_template(fpm)["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/www/html/var", "/tmp", "/var/www/html/pub/media"}
    for mount in pod["containers"][0]["volumeMounts"]:
        if not mount.get("readOnly"):
            assert "emptyDir" in volumes[mount["name"]], mount
    env_mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "env-php")
    assert env_mount == {"name": "env-php", "mountPath": "/var/www/html/app/etc/env.php", "subPath": "env.php", "readOnly": True}


def test_probes_on_web_tiers_do_not_depend_on_data_services(rec):
    for kind, name in (("Deployment", "php-fpm"), ("Deployment", "nginx"), ("StatefulSet", "varnish")):
        server, exporter = pod_template(one(rec, "site-shop-de", kind, name))["spec"]["containers"]
        assert exporter["name"] == f"{name}-exporter"
        for container in (server, exporter):
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, (container["name"], probe)
                assert "health_check" not in json.dumps(container[probe])


# --------------------------------------------------------------------------------------- scaling


def test_fpm_scales_on_cpu_within_the_size_class_and_spreads(rec):
    site = site_config("shop-fr")
    hpa = one(rec, "site-shop-fr", "HorizontalPodAutoscaler", "php-fpm")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-fpm"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)  # medium class, maxReplicas overridden
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pod = pod_template(one(rec, "site-shop-fr", "Deployment", "php-fpm"))["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": site.tiers.php_fpm.resources.cpu_limit,
                                                           "memory": site.tiers.php_fpm.resources.memory_limit}
    zones = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zones and zones[0]["whenUnsatisfiable"] == "DoNotSchedule"


def test_consumers_scale_on_queue_depth_of_their_own_vhost(rec):
    site = site_config("shop-de")
    for group in site.consumers:
        scaled = one(rec, "site-shop-de", "ScaledObject", f"consumer-{group.name}")["spec"]
        assert scaled["scaleTargetRef"]["name"] == f"consumer-{group.name}"
        assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (group.min_replicas, group.max_replicas)
        assert [t["metadata"]["queueName"] for t in scaled["triggers"]] == group.queues
        for trigger in scaled["triggers"]:
            assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
            assert trigger["metadata"]["vhostName"] == "site-shop-de"
            assert trigger["authenticationRef"] == {"name": "rabbitmq"}
        deployment = one(rec, "site-shop-de", "Deployment", f"consumer-{group.name}")
        pod = pod_template(deployment)["spec"]
        assert pod["terminationGracePeriodSeconds"] == group.drain_seconds
        (container,) = pod["containers"]
        assert container["command"] == ["sh", "/etc/magento/scripts/consumers.sh", *group.consumers]
        assert {"name": "MAX_MESSAGES", "value": str(group.max_messages)} in container["env"]
        assert "--single-thread" not in json.dumps(container)
    secret = record(rec, "site-shop-de", "Secret", "rabbitmq-keda")
    assert secret.inputs["stringData"]["host"] == "amqp://site-shop-de:pw-queue-shop-de@rabbitmq.rabbitmq.svc.cluster.local:5672/site-shop-de"
    assert secret.is_secret("stringData")


def test_cron_runs_every_minute_one_at_a_time_and_clears_stale_rows_first(rec):
    cron = one(rec, "site-shop-fr", "CronJob", "cron")["spec"]
    assert (cron["schedule"], cron["concurrencyPolicy"]) == ("* * * * *", "Forbid")
    assert "suspend" not in cron  # left to the release Job
    job = cron["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == site_config("shop-fr").cron.active_deadline_seconds
    (container,) = job["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert script.index("cron-stale.php") < script.index("cron:run")
    assert f"cron-stale.php app/etc/env.php {job['activeDeadlineSeconds']}" in script
    single = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("CONFIG__")}
    assert single["CONFIG__DEFAULT__SYSTEM__CRON__INDEX__USE_SEPARATE_PROCESS"] == "0"


def test_varnish_storage_and_fpm_pool_follow_the_limits(rec):
    site = site_config("shop-fr")
    container, _exporter = pod_template(one(rec, "site-shop-fr", "StatefulSet", "varnish"))["spec"]["containers"]
    storage = sizing.varnish_storage(site.tiers.varnish.resources.memory_limit)
    assert f"default=malloc,{storage.malloc_mb}m" in container["command"]
    assert storage.malloc_mb + storage.transient_mb < sizing.mebibytes(site.tiers.varnish.resources.memory_limit)
    pool = sizing.fpm_pool(site.tiers.php_fpm.resources, site.tiers.php_fpm.child_memory_mb)
    fpm_conf = one(rec, "site-shop-fr", "ConfigMap", "magento-php")["data"]["php-fpm.conf"]
    assert f"pm.max_children = {pool.max_children}" in fpm_conf


# --------------------------------------------------------------------------------------- env.php


def env_php(rec: Recording, site: str) -> dict[str, Any]:
    """The store's env.php as PHP reads it (the generated text run through the real php binary)."""
    secret = record(rec, f"site-{site}", "Secret", "magento-env")
    assert secret.is_secret("stringData"), "env.php must be a secret"
    php = shutil.which("php")
    assert php, "php (Debian php-cli, installed with php-fpm) is required"
    result = subprocess.run(
        [php, "-r", '$e = eval("?>" . stream_get_contents(STDIN)); echo json_encode($e);'],
        input=secret.inputs["stringData"]["env.php"], capture_output=True, text=True, timeout=30, check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", SITES)
def test_env_php_is_wired_to_the_stores_tenancy_and_services(rec, name):
    env = env_php(rec, name)
    db = env["db"]["connection"]["default"]
    assert db["host"] == "pxc-haproxy.mysql.svc.cluster.local:3306"  # the single writer
    assert (db["dbname"], db["username"], db["password"]) == (f"site_{name.replace('-', '_')}",) * 2 + (f"pw-db-{name}",)
    amqp = env["queue"]["amqp"]
    assert (amqp["virtualhost"], amqp["user"], amqp["password"]) == (f"site-{name}", f"site-{name}", f"pw-queue-{name}")
    assert env["queue"]["default_connection"] == "amqp" and env["cron_consumers_runner"] == {"cron_run": False}
    search = env["system"]["default"]["catalog"]["search"]
    assert (search["opensearch_index_prefix"], search["opensearch_password"]) == (name, f"pw-search-{name}")
    assert env["system"]["default"]["web"]["secure"]["offloader_header"] == "X-Forwarded-Proto"
    session = env["session"]["redis"]
    assert session["sentinel_master"] == f"{name}-session" and session["password"] == f"pw-valkey-{name}-session"
    prefixes = set()
    for frontend in ("default", "page_cache"):
        options = env["cache"]["frontend"][frontend]["backend_options"]
        assert options["sentinel_master"] == f"{name}-cache"
        assert options["server"] == "tcp://valkey-sentinel.valkey.svc.cluster.local:26379"
        assert (options["username"], options["password"]) == (f"{name}-cache", f"pw-valkey-{name}-cache")
        prefix = env["cache"]["frontend"][frontend]["id_prefix"]
        assert prefix.startswith(f"{name}_{site_config(name).release_name}_")
        prefixes.add(prefix)
    assert len(prefixes) == 2
    hosts = env["http_cache_hosts"]
    replicas = site_config(name).tiers.varnish.replicas
    assert hosts == [{"host": f"varnish-{i}.varnish-peers.site-{name}.svc.cluster.local", "port": varnish_runtime.PURGE_PORT}
                     for i in range(replicas)]
    storage = env["remote_storage"]
    assert storage["driver"] == "aws-s3" and storage["prefix"] == f"{name}/"
    assert storage["config"]["endpoint"] == "https://s3.gra.io.cloud.ovh.net" and storage["config"]["use_path_style_endpoint"]
    assert env["backend"]["frontName"] == "admin" and len(env["crypt"]["key"]) == 32
    assert env["deployment"]["blue_green"]["enabled"] is True


def test_every_purge_host_is_a_pod_of_the_stores_statefulset(rec):
    env = env_php(rec, "shop-fr")
    statefulset = one(rec, "site-shop-fr", "StatefulSet", "varnish")["spec"]
    peers = one(rec, "site-shop-fr", "Service", "varnish-peers")["spec"]
    assert statefulset["serviceName"] == "varnish-peers" and peers["clusterIP"] == "None"
    names = {f"varnish-{i}.varnish-peers.site-shop-fr.svc.cluster.local" for i in range(statefulset["replicas"])}
    assert {h["host"] for h in env["http_cache_hosts"]} == names
    assert {p["port"] for p in peers["ports"]} >= {varnish_runtime.PURGE_PORT}


def test_cdn_host_serves_media_and_static(rec):
    web = env_php(rec, "shop-fr")["system"]["default"]["web"]
    assert web["secure"]["base_media_url"] == "https://static.example.fr/media/"
    assert web["secure"]["base_static_url"] == "https://static.example.fr/static/"


# --------------------------------------------------------------------------------------- release


def test_release_job_is_named_after_the_release_and_runs_before_the_tiers_roll(rec):
    release = site_config("shop-fr").release_name
    assert release == "2-4-8-p3-2026-11-20"
    job = record(rec, "site-shop-fr", "Job", f"release-{release}")
    resume = record(rec, "site-shop-fr", "Job", f"resume-{release}")
    for kind, name in (("Deployment", "php-fpm"), ("Deployment", "nginx"), ("CronJob", "cron"), ("Deployment", "consumer-async")):
        rolled = record(rec, "site-shop-fr", kind, name)
        assert comes_after(rec, rolled, job), name
        assert comes_after(rec, resume, rolled), name
    assert not comes_after(rec, job, record(rec, "site-shop-fr", "Deployment", "php-fpm"))
    spec = job.inputs["spec"]
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    (upgrade,) = pod["containers"]
    assert upgrade["command"] == ["sh", "/etc/magento/scripts/release.sh"]
    assert upgrade["image"] == "ghcr.io/example/magento-shop:2.4.8-p3-2026.11.20"
    app_etc = next(m for m in upgrade["volumeMounts"] if m["mountPath"] == "/var/www/html/app/etc")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == app_etc["name"])
    script = one(rec, "site-shop-fr", "ConfigMap", "magento-release-scripts")["data"]["release.sh"].split("set -eu", 1)[1]
    assert script.index("kube.php\" pause") < script.index("setup:db:status") < script.index("setup:upgrade --keep-generated")


def test_release_account_may_only_pause_and_resume(rec):
    role = one(rec, "site-shop-de", "Role", "release")
    verbs = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert verbs[(("batch",), ("cronjobs",))] == {"get", "patch"}
    assert verbs[(("keda.sh",), ("scaledobjects",))] == {"get", "patch"}
    assert all(not {"delete", "create", "update", "*"} & v for v in verbs.values())
    pods = [o for o in objects(rec, "site-shop-de") if pod_template(o) is not None]
    with_token = {o["metadata"]["name"] for o in pods if pod_template(o)["spec"]["automountServiceAccountToken"]}
    assert with_token == {f"release-{site_config('shop-de').release_name}", f"resume-{site_config('shop-de').release_name}"}


def test_a_new_image_tag_is_a_new_release():
    values = stack_values("prod")
    values["sites"][1]["image"]["tag"] = "2.4.8-p4-2027.01.10"
    rec2 = run_program(settings_from_values(values, stack="prod"), program=sites_program)
    names = {o["metadata"]["name"] for o in objects(rec2, "site-shop-de", "Job")}
    assert names == {"release-2-4-8-p4-2027-01-10", "resume-2-4-8-p4-2027-01-10"}
    env = env_php(rec2, "shop-de")
    assert env["cache"]["frontend"]["default"]["id_prefix"] == "shop-de_2-4-8-p4-2027-01-10_"


def test_the_policy_pack_passes_on_both_stores(rec):
    from offline.policy_check import check_recording

    report = check_recording(rec)
    assert [str(v) for v in report.violations] == []


def test_without_media_keys_in_the_tenancy_the_pods_read_the_stores_secret():
    import functools as ft

    rec2 = run_program(settings_from_values(stack_values("prod"), stack="prod"), program=ft.partial(sites_program, media_keys=False))
    storage = env_php(rec2, "shop-de")["remote_storage"]
    assert storage == {"driver": "aws-s3", "prefix": "prod/sites/shop-de/",
                       "config": {"bucket": "magento-prod-media", "region": "gra", "endpoint": "https://s3.gra.io.cloud.ovh.net",
                                  "use_path_style_endpoint": True}}
    container, _exporter = pod_template(one(rec2, "site-shop-de", "Deployment", "php-fpm"))["spec"]["containers"]
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert keys == {"AWS_ACCESS_KEY_ID": {"name": "media-credentials", "key": "access_key_id", "optional": True},
                    "AWS_SECRET_ACCESS_KEY": {"name": "media-credentials", "key": "secret_access_key", "optional": True}}
