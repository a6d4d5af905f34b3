"""Valkey under mocks: an instance per store and purpose, standalone on one server, primary + replicas with
Sentinel across three failure domains, sizing from the limits, secrets, isolation and the scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.data import sentinel as sn
from components.data import valkey_config as vc
from offline.engine import Recording
from tests.layer_helpers import rendered, schema_problems, stack_values

SITES = {"dev": ("demo",), "prod": ("shop-fr", "shop-de")}


def _instances(stack: str) -> list[vc.Instance]:
    return [vc.Instance(site, purpose) for site in SITES[stack] for purpose in vc.PURPOSES]


def _objects(rec: Recording, instance: vc.Instance, kind: str) -> list[dict]:
    return [r.inputs for r in rendered(rec, instance.release, kind)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_instance_per_store_and_purpose(stack: str, dev: Recording, prod: Recording):
    rec = {"dev": dev, "prod": prod}[stack]
    charts = {r.name for r in rec.of_type("kubernetes:helm.sh/v4:Chart") if r.name.startswith("valkey-")}
    assert charts == {i.release for i in _instances(stack)}
    assert not [i for i in _instances(stack) if i.purpose not in ("cache", "session")]  # Varnish is the page cache


def test_dev_runs_each_instance_standalone_on_a_zfs_volume(dev: Recording):
    for instance in _instances("dev"):
        (deployment,) = _objects(dev, instance, "Deployment")
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
        (claim,) = _objects(dev, instance, "PersistentVolumeClaim")
        assert claim["spec"]["storageClassName"] == "zfs"
        assert not _objects(dev, instance, "StatefulSet")
    assert not [r for r in dev.own_objects() if r.inputs.get("kind") == "StatefulSet" and r.inputs["metadata"]["name"] == sn.NAME]


def test_prod_replicates_across_three_failure_domains(prod: Recording):
    for instance in _instances("prod"):
        (sts,) = _objects(prod, instance, "StatefulSet")
        spec = sts["spec"]
        assert spec["replicas"] == 2  # two servers hold volumes; the witness holds the third Sentinel only
        assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "zfs"
        pod = spec["template"]["spec"]
        zone = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
        assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert [c["name"] for c in pod["initContainers"]] == [f"{instance.release}-init", "follow-primary"]
        (pdb,) = _objects(prod, instance, "PodDisruptionBudget")
        assert pdb["spec"]["maxUnavailable"] == 1
        config = _objects(prod, instance, "ConfigMap")
        init = next(c for c in config if c["metadata"]["name"].endswith("-init-scripts"))["data"]["init.sh"]
        assert "min-replicas-to-write" not in init  # with one replica it would stop writes when a server is down


def test_sentinel_watches_every_primary_from_three_failure_domains(prod: Recording):
    (sts,) = [r.inputs for r in prod.own_objects() if r.inputs.get("kind") == "StatefulSet" and r.inputs["metadata"]["name"] == sn.NAME]
    assert sts["spec"]["replicas"] == 3
    pod = sts["spec"]["template"]["spec"]
    assert any(c["topologyKey"] == "topology.kubernetes.io/zone" and c["whenUnsatisfiable"] == "DoNotSchedule"
               for c in pod["topologySpreadConstraints"])
    assert pod["containers"][0]["readinessProbe"] and pod["containers"][0]["resources"]["limits"]
    assert {"key": "magento.io/witness", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in pod["tolerations"]
    secret = prod.named("valkey-sentinel-config", "kubernetes:core/v1:Secret")
    assert "stringData" in secret.secret_paths
    conf = secret.inputs["stringData"]["sentinel.conf"]
    for instance in _instances("prod"):
        assert f"sentinel monitor {instance.master} {instance.pod_host(0)} 6379 2" in conf
        assert f"sentinel auth-user {instance.master} sentinel" in conf
    assert "user default on nopass" in conf and "+sentinel|get-master-addr-by-name" in conf


def test_maxmemory_is_a_share_of_the_memory_limit_and_eviction_follows_the_purpose(prod: Recording):
    valkey = stack_values("prod")["data"]["valkey"]
    for instance in _instances("prod"):
        (config,) = [c for c in _objects(prod, instance, "ConfigMap") if c["metadata"]["name"] == f"{instance.release}-config"]
        text = config["data"]["valkey.conf"]
        limit = (valkey.get("stores", {}).get({"cache": "cache", "session": "session"}[instance.purpose]) or valkey["resources"])["memoryLimit"]
        assert f"maxmemory {vc.maxmemory_bytes(limit, 70)}\n" in text
        assert f"maxmemory-policy {vc.EVICTION[instance.purpose]}" in text
        assert ("appendonly yes" in text) == (instance.purpose == "session")


def test_maxmemory_is_below_the_limit():
    assert vc.maxmemory_bytes("2Gi", 70) == 1433 * 1024 * 1024
    assert vc.maxmemory_bytes("512Mi", 70) < 512 * 1024 * 1024


def test_every_store_has_its_own_passwords(prod: Recording):
    secrets = {i.release: prod.named(f"{i.release}-users", "kubernetes:core/v1:Secret") for i in _instances("prod")}
    for secret in secrets.values():
        assert "stringData" in secret.secret_paths
    values = {(release, user): v for release, s in secrets.items() for user, v in s.inputs["stringData"].items()
              if user not in (vc.SENTINEL_USER,)}
    assert len(set(values.values())) == len(values), "a password is shared between instances or users"
    assert set(secrets["valkey-shop-fr-cache"].inputs["stringData"]) == {
        "shop-fr", vc.REPLICATION_USER, vc.SENTINEL_USER, vc.EXPORTER_USER}


def test_only_the_store_s_namespace_reaches_its_instances(prod: Recording):
    for instance in _instances("prod"):
        policy = prod.named(f"{instance.release}-ingress").inputs
        assert policy["spec"]["endpointSelector"]["matchLabels"]["app.kubernetes.io/instance"] == instance.release
        namespaces = {m.get("k8s:io.kubernetes.pod.namespace") for rule in policy["spec"]["ingress"]
                      for peer in rule.get("fromEndpoints", []) for m in [peer["matchLabels"]]} - {None}
        assert namespaces == {f"site-{instance.site}", "monitoring"}


def test_the_valkey_objects_are_schema_valid(stack_recording: Recording):
    records = [r for r in stack_recording.resources if r.is_kubernetes_object and "valkey" in r.name]
    assert records and schema_problems(records) == []


@pytest.mark.parametrize("script", [vc.FOLLOW_PRIMARY_SCRIPT, sn.INIT_SCRIPT], ids=["follow-primary", "sentinel-init"])
def test_scripts_pass_shellcheck(tmp_path: Path, script: str):
    path = tmp_path / "script.sh"
    path.write_text(script)
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run([str(shellcheck), "-s", "sh", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_replicas_follow_the_stack_file(run):
    from offline.stackfile import ROOT

    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values["magento:data"]["valkey"]["replicas"] = 1
    rec = run(values, stack="prod")
    assert not [r for r in rec.own_objects() if r.inputs.get("kind") == "StatefulSet" and r.inputs["metadata"]["name"] == sn.NAME]
    assert all(_objects(rec, i, "Deployment") for i in _instances("prod"))
