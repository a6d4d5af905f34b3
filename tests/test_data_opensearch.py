"""OpenSearch under mocks: nodes and placement by failure domains, heap from the limit, no privileged sysctl,
security plugin with our own admin, S3 snapshots with retention, and per-site users and roles limited to
the site's index prefix."""

from __future__ import annotations

import copy
import fnmatch

import yaml

from components.data.mysql_config import MIB
from components.data.opensearch import MAX_HEAP, heap_mib
from offline.engine import Recording
from offline.schemas import validate_objects
from tests.layer_helpers import chart, comes_after, kind, problems, rendered, stack_values


def cluster(rec: Recording) -> dict:
    (cr,) = kind(rec, "OpenSearchCluster")
    return cr.inputs


def pools(rec: Recording) -> dict[str, dict]:
    return {p["component"]: p for p in cluster(rec)["spec"]["nodePools"]}


def pool(rec: Recording) -> dict:
    return pools(rec)["nodes"]


def test_heap_is_half_the_memory_limit():
    assert heap_mib("4Gi") == 2048
    assert heap_mib("3000Mi") == 1500
    assert heap_mib("128Gi") == MAX_HEAP // MIB  # compressed pointers stop at ~32 GiB


def test_prod_heap_and_resources_follow_the_config(prod: Recording):
    nodes = pool(prod)
    assert nodes["jvm"] == "-Xms2048m -Xmx2048m"  # Pulumi.prod.yaml: memoryLimit 4Gi
    assert nodes["resources"]["limits"]["memory"] == "4Gi"
    assert nodes["diskSize"] == "100Gi"


def test_prod_runs_two_data_nodes_and_a_manager_on_the_witness(prod: Recording):
    # Pulumi.prod.yaml: two servers with ZFS pools (rbx-a, rbx-b) and a witness without one (gra-w).
    assert set(pools(prod)) == {"nodes", "witness"}
    nodes = pool(prod)
    assert nodes["replicas"] == 2
    assert set(nodes["roles"]) >= {"cluster_manager", "data"}
    assert "tolerations" not in nodes  # data needs a ZFS volume: never on the witness
    terms = nodes["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
    zone = [c for c in nodes["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert zone[0]["labelSelector"]["matchLabels"] == {"opster.io/opensearch-cluster": "opensearch", "opster.io/opensearch-nodepool": "nodes"}
    assert nodes["pdb"] == {"enable": True, "maxUnavailable": 1}
    witness = pools(prod)["witness"]
    assert witness["replicas"] == 1 and witness["roles"] == ["cluster_manager"]  # the third vote, no shards
    assert witness["nodeSelector"] == {"magento.io/witness": "true"}
    assert {"key": "magento.io/witness", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in witness["tolerations"]
    assert "emptyDir" in witness["persistence"] and witness["resources"]["limits"]["memory"] == "1Gi"
    assert witness["jvm"] == "-Xms512m -Xmx512m"
    managers = sum(p["replicas"] for p in pools(prod).values() if "cluster_manager" in p["roles"])
    assert managers == 3


def test_three_storage_domains_run_three_data_nodes(run):
    values = stack_values("prod")
    witness = next(h for h in values["hosts"] if "witness" in h["roles"])
    witness["roles"] = ["control-plane", "worker"]
    witness["zfs"] = {"pool": "tank", "disks": [{"id": "/dev/disk/by-id/nvme-W1"}, {"id": "/dev/disk/by-id/nvme-W2"}]}
    found = {p["component"]: p for p in cluster(run(values, stack="prod"))["spec"]["nodePools"]}
    assert set(found) == {"nodes"} and found["nodes"]["replicas"] == 3


def test_dev_runs_one_node(dev: Recording):
    nodes = pool(dev)
    assert nodes["replicas"] == 1
    assert "pdb" not in nodes and "affinity" not in nodes


def test_no_privileged_container_for_max_map_count(stack_recording: Recording):
    general = cluster(stack_recording)["spec"]["general"]
    assert general["setVMMaxMapCount"] is False
    ns = stack_recording.named("opensearch-namespace").inputs["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "baseline"
    # The hosts set it instead.
    from pathlib import Path

    baseline = (Path(__file__).parents[1] / "hosts" / "scripts" / "10-baseline.sh").read_text()
    assert "vm.max_map_count = 262144" in baseline


def test_version_and_operator_image_are_the_stable_ones(stack_recording: Recording):
    general = cluster(stack_recording)["spec"]["general"]
    assert general["version"] == "2.19.3" and general["image"] == "docker.io/opensearchproject/opensearch:2.19.3"
    operator = chart(stack_recording, "opensearch-operator").inputs
    assert operator["version"] == "2.8.2"
    assert operator["values"]["manager"]["image"]["tag"] == "2.8.0"
    images = {c["image"] for d in rendered(stack_recording, "opensearch-operator", "Deployment")
              for c in d.inputs["spec"]["template"]["spec"]["containers"]}
    assert any(i.endswith("opensearch-operator:2.8.0") for i in images), images


def test_webhook_certificate_comes_from_cert_manager_after_the_edge(stack_recording: Recording):
    certificates = rendered(stack_recording, "opensearch-operator", "Certificate")
    assert certificates
    assert comes_after(stack_recording, chart(stack_recording, "opensearch-operator"), chart(stack_recording, "cert-manager"))


def test_security_plugin_on_with_our_admin_and_no_demo_users(stack_recording: Recording):
    spec = cluster(stack_recording)["spec"]
    config = spec["security"]["config"]
    assert config["securityConfigSecret"]["name"] == "opensearch-securityconfig"
    assert config["adminCredentialsSecret"]["name"] == "opensearch-admin-credentials"
    assert config["adminSecret"]["name"] == "opensearch-admin-tls"  # securityadmin's certificate, from cert-manager
    # Transport and HTTP from the program's CAs through cert-manager (tests/test_search_transport.py,
    # tests/test_search_trust.py follows the HTTP CA to the stores), nothing generated by the operator
    assert spec["security"]["tls"]["transport"]["generate"] is False
    assert spec["security"]["tls"]["http"] == {"generate": False, "secret": {"name": "opensearch-http-tls"}}
    files = stack_recording.named("opensearch-securityconfig").inputs["stringData"]
    users = yaml.safe_load(files["internal_users.yml"])
    assert set(users) == {"_meta", "platform-admin", "prometheus-scraper"}  # the scraper: tests/test_data_metrics.py
    assert users["platform-admin"]["hash"].startswith("$2")
    dynamic = yaml.safe_load(files["config.yml"])["config"]["dynamic"]
    assert dynamic["http"]["anonymous_auth_enabled"] is False
    admin = stack_recording.named("opensearch-admin-credentials").inputs["stringData"]
    assert admin["username"] == "platform-admin" and len(admin["password"]) == 32


def test_snapshots_go_to_the_search_bucket_with_retention(prod: Recording):
    general = cluster(prod)["spec"]["general"]
    (repository,) = general["snapshotRepositories"]
    assert repository == {"name": "s3", "type": "s3", "settings": {"bucket": "magento-prod-opensearch", "base_path": "prod"}}
    assert "repository-s3" in general["pluginsList"]
    assert general["additionalConfig"]["s3.client.default.endpoint"] == "s3.gra.io.cloud.ovh.net"
    assert general["additionalConfig"]["s3.client.default.path_style_access"] == "true"
    (keystore,) = general["keystore"]
    secret = prod.named("opensearch-s3-keystore").inputs
    assert keystore["secret"]["name"] == secret["metadata"]["name"]
    assert set(secret["stringData"]) == {"s3.client.default.access_key", "s3.client.default.secret_key"}
    (policy,) = kind(prod, "OpensearchSnapshotPolicy")
    spec = policy.inputs["spec"]
    assert spec["snapshotConfig"]["repository"] == "s3"
    assert spec["creation"]["schedule"]["cron"] == {"expression": "0 3 * * *", "timezone": "UTC"}
    assert spec["deletion"]["deleteCondition"] == {"maxAge": "35d", "minCount": 3}  # backup.retentionDays
    assert comes_after(prod, policy, kind(prod, "OpenSearchCluster")[0])


def test_snapshot_schedule_and_retention_from_config(run):
    values = stack_values("prod")
    values["data"]["opensearch"]["snapshots"] = {"time": "04:45", "keepDays": 14}
    (policy,) = kind(run(values, stack="prod"), "OpensearchSnapshotPolicy")
    assert policy.inputs["spec"]["creation"]["schedule"]["cron"]["expression"] == "45 4 * * *"
    assert policy.inputs["spec"]["deletion"]["deleteCondition"]["maxAge"] == "14d"


def test_dev_without_backups_has_no_snapshots(dev: Recording):
    assert "snapshotRepositories" not in cluster(dev)["spec"]["general"]
    assert kind(dev, "OpensearchSnapshotPolicy") == []


def test_each_site_is_limited_to_its_index_prefix(prod: Recording):
    roles = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in kind(prod, "OpensearchRole")}
    assert set(roles) == {"site-shop-fr", "site-shop-de", "platform-metrics"}  # the monitoring user's: test_data_metrics.py
    roles.pop("platform-metrics")
    for site, role in roles.items():
        (permission,) = role["indexPermissions"]
        assert permission["indexPatterns"] == [f"{site.removeprefix('site-')}_*"]
        assert "cluster_monitor" not in role["clusterPermissions"] and "cluster_all" not in role["clusterPermissions"]
    # Magento's index names of one store never match another store's pattern, even with shared prefixes.
    patterns = {site: role["indexPermissions"][0]["indexPatterns"][0] for site, role in roles.items()}
    for index in ("shop-fr_product_1", "shop-fr_product_1_v3", "shop-de_catalogsearch_fulltext_2"):
        matches = [site for site, pattern in patterns.items() if fnmatch.fnmatchcase(index, pattern)]
        assert len(matches) == 1 and index.startswith(matches[0].removeprefix("site-"))
    assert not fnmatch.fnmatchcase("shop-fr_product_1", "shop_*")


def test_site_users_have_own_passwords_and_bindings(prod: Recording):
    users = {u.inputs["metadata"]["name"]: u.inputs["spec"] for u in kind(prod, "OpensearchUser")}
    bindings = {b.inputs["metadata"]["name"]: b.inputs["spec"] for b in kind(prod, "OpensearchUserRoleBinding")}
    secrets = set()
    for name, user in users.items():
        ref = user["passwordFrom"]
        secret = prod.named(f"opensearch-{name.removeprefix('site-')}-credentials").inputs
        assert secret["metadata"]["name"] == ref["name"] and secret["metadata"]["namespace"] == "opensearch"
        secrets.add(secret["stringData"]["password"])
        assert bindings[name] == {"opensearchCluster": {"name": "opensearch"}, "users": [name], "roles": [name]}
    assert len(secrets) == len(users) == 2


def test_every_search_resource_is_schema_valid_and_the_check_is_real(prod: Recording):
    objects = [r.inputs for r in prod.own_objects() if r.inputs.get("apiVersion", "").startswith("opensearch.opster.io")]
    assert {o["kind"] for o in objects} == {"OpenSearchCluster", "OpensearchRole", "OpensearchUser", "OpensearchUserRoleBinding",
                                            "OpensearchSnapshotPolicy", "OpensearchIndexTemplate"}
    found, skipped = validate_objects(objects)
    assert found == [] and skipped == 0
    bad = copy.deepcopy(cluster(prod))
    bad["spec"]["nodePools"][0]["heap"] = "2g"
    assert validate_objects([bad])[0]


def test_bad_snapshot_time_is_rejected():
    values = stack_values("prod")
    values["data"]["opensearch"]["snapshots"] = {"time": "3am"}
    assert "data.opensearch.snapshots.time" in problems(values)


def test_every_store_index_gets_a_replica_where_there_is_a_second_data_node(prod: Recording):
    templates = {t.inputs["metadata"]["name"]: t.inputs["spec"] for t in kind(prod, "OpensearchIndexTemplate")}
    assert set(templates) == {"site-shop-fr", "site-shop-de"}
    for name, spec in templates.items():
        assert spec["indexPatterns"] == [f"{name.removeprefix('site-')}_*"]
        assert spec["template"]["settings"] == {"index.auto_expand_replicas": "0-1"}
