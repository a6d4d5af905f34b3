"""The platform layer's services under mocks (dev and prod): charts, versions, namespaces, the values that
matter, HA by failure domains, policies schema-valid and aimed at the site namespaces, gitops delivery."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import versions
from components.platform.observability.common import PROMETHEUS_URL
from tests.conftest import recording_for
from tests.layer_helpers import chart, kind, problems, rendered, schema_problems, stack_values

PLATFORM_CHARTS = {
    "argo-cd": "argocd",
    "openbao": "openbao",
    "external-secrets": "external-secrets",
    "kyverno": "kyverno",
    "kubearmor-operator": "kubearmor",
    "kured": "kube-system",
    "harbor": "harbor",
    "keda": "keda",
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_service_is_its_pinned_chart_in_its_namespace(stack):
    rec = recording_for(stack)
    expected = dict(PLATFORM_CHARTS, **({"velero": "velero"} if stack == "prod" else {}))
    for name, namespace in expected.items():
        record = chart(rec, name)
        pin = versions.chart(name)
        assert (record.inputs["version"], record.inputs["namespace"]) == (pin.version, namespace), name
        assert rendered(rec, name), f"{name} renders no object"
    assert not [r for r in rec.resources if r.name == "velero" and r.type.endswith(":Chart")] or stack == "prod"


def test_secrets_store_is_standalone_on_one_domain_and_raft_ha_on_three(dev, prod):
    dev_server = chart(dev, "openbao").inputs["values"]["server"]
    assert dev_server["standalone"]["enabled"] is True and dev_server["ha"]["enabled"] is False
    assert 'storage "raft"' in dev_server["standalone"]["config"] and "retry_join" not in dev_server["standalone"]["config"]
    prod_server = chart(prod, "openbao").inputs["values"]["server"]
    assert prod_server["ha"]["enabled"] and prod_server["ha"]["replicas"] == 3 and prod_server["ha"]["raft"]["enabled"]
    assert prod_server["ha"]["raft"]["config"].count("retry_join") == 3
    assert prod_server["dataStorage"] == {"enabled": True, "size": "10Gi", "storageClass": "zfs"}
    (statefulset,) = rendered(prod, "openbao", "StatefulSet")
    assert statefulset.inputs["spec"]["replicas"] == 3
    assert rendered(prod, "openbao", "PodDisruptionBudget")
    assert chart(prod, "openbao").inputs["values"]["injector"]["enabled"] is False


def test_vault_is_selectable():
    values = stack_values("dev")
    values["platform"] = {"secretsBackend": "vault"}
    from offline.engine import run_program
    from offline.stackfile import settings_from_values

    rec = run_program(settings_from_values(values, stack="dev"))
    vault = chart(rec, "vault")
    assert (vault.inputs["version"], vault.inputs["namespace"]) == (versions.chart("vault").version, "vault")
    stores = kind(rec, "ClusterSecretStore")
    assert {s.inputs["spec"]["provider"]["vault"]["server"] for s in stores} == {"https://vault.vault.svc:8200"}


def test_one_cluster_secret_store_per_site_usable_only_from_its_namespace(prod):
    stores = {s.inputs["metadata"]["name"]: s.inputs for s in kind(prod, "ClusterSecretStore")}
    assert set(stores) == {"site-shop-fr", "site-shop-de", "platform"}
    for site in ("shop-fr", "shop-de"):
        spec = stores[f"site-{site}"]["spec"]
        assert stores[f"site-{site}"]["apiVersion"] == "external-secrets.io/v1"
        assert spec["conditions"] == [{"namespaces": [f"site-{site}"]}]
        assert spec["provider"]["vault"]["auth"]["kubernetes"]["role"] == f"site-{site}"
        assert spec["provider"]["vault"]["version"] == "v2"
    assert schema_problems(kind(prod, "ClusterSecretStore")) == []


def test_the_program_writes_site_secrets_once_the_store_token_is_set(prod):
    # The offline plan sets every secret setting (secretsStoreToken included) to a placeholder.
    (component,) = prod.of_type("magento:platform:SiteSecrets")
    assert prod.of_type("pulumi:providers:vault")
    assert prod.of_type("vault:index/mount:Mount") and component


def test_kyverno_policies_are_schema_valid_deny_and_target_site_namespaces(stack_recording):
    policies = kind(stack_recording, "ValidatingPolicy")
    names = {p.inputs["metadata"]["name"] for p in policies}
    assert names == {"site-restricted-pod-security", "site-allowed-registries", "site-no-latest-tag", "site-require-limits"}
    for policy in policies:
        spec = policy.inputs["spec"]
        assert policy.inputs["apiVersion"] == "policies.kyverno.io/v1"
        assert spec["validationActions"] == ["Deny"]
        assert spec["matchConstraints"]["namespaceSelector"] == {"matchExpressions": [{"key": "magento.io/site", "operator": "Exists"}]}
    assert schema_problems(policies) == []
    registries = next(p for p in policies if p.inputs["metadata"]["name"] == "site-allowed-registries")
    assert "'ghcr.io/'" in registries.inputs["spec"]["validations"][0]["expression"]
    # The site namespaces carry the label the policies select on.
    site_ns = [r for r in kind(stack_recording, "Namespace") if r.inputs["metadata"]["name"].startswith("site-")]
    assert site_ns and all("magento.io/site" in r.inputs["metadata"]["labels"] for r in site_ns)


def test_kubearmor_images_are_all_pinned_and_policies_audit_by_default(prod, run):
    values = chart(prod, "kubearmor-operator").inputs["values"]
    assert values["imagePinning"] is True
    assert {image["tag"] for image in values["kubearmor"]["images"].values()} == {"v1.7.4"}
    (config,) = kind(prod, "KubeArmorConfig")
    images = [v["image"] for k, v in config.inputs["spec"].items() if k.endswith("Image")]
    assert images and all(image.endswith(":v1.7.4") for image in images)
    (deployment,) = rendered(prod, "kubearmor-operator", "Deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/kubearmor/kubearmor-operator:v1.7.4"
    related = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("RELATED_IMAGE_")}
    assert len(related) == 5 and all(v.startswith("docker.io/kubearmor/") and v.endswith(":v1.7.4") for v in related.values())
    policies = {p.inputs["metadata"]["namespace"]: p.inputs for p in kind(prod, "KubeArmorPolicy")}
    assert set(policies) == {"site-shop-fr", "site-shop-de"}
    assert {p["spec"]["action"] for p in policies.values()} == {"Audit"}
    assert schema_problems(kind(prod, "KubeArmorPolicy") + kind(prod, "KubeArmorConfig")) == []
    shells = {m["path"] for m in policies["site-shop-fr"]["spec"]["process"]["matchPaths"]}
    assert {"/bin/sh", "/bin/bash"} <= shells
    read_only_dirs = {d["dir"] for d in policies["site-shop-fr"]["spec"]["file"]["matchDirectories"]}
    assert {"/var/www/html/vendor/", "/var/www/html/generated/"} <= read_only_dirs
    assert not any(d.endswith(("html/var/", "pub/media/")) or d == "/tmp/" for d in read_only_dirs)
    assert policies["site-shop-fr"]["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "php-fpm"}}

    values_ = stack_values("prod")
    values_["platform"]["admission"] = {"runtimeBlockSites": ["shop-de"]}
    blocked = {p.inputs["metadata"]["namespace"]: p.inputs["spec"]["action"] for p in kind(run(values_, stack="prod"), "KubeArmorPolicy")}
    assert blocked == {"site-shop-fr": "Audit", "site-shop-de": "Block"}


def test_kured_window_one_node_at_a_time_holding_on_alerts(prod):
    configuration = chart(prod, "kured").inputs["values"]["configuration"]
    assert (configuration["startTime"], configuration["endTime"], configuration["timeZone"]) == ("02:00", "05:00", "Etc/UTC")
    assert configuration["concurrency"] == 1
    assert configuration["prometheusUrl"] == PROMETHEUS_URL == "http://kps-prometheus.monitoring.svc:9090"
    assert configuration["rebootDays"] == ["mo", "tu", "we", "th"]
    (daemonset,) = rendered(prod, "kured", "DaemonSet")
    args = daemonset.inputs["spec"]["template"]["spec"]["containers"][0]["command"] + \
        daemonset.inputs["spec"]["template"]["spec"]["containers"][0].get("args", [])
    joined = " ".join(args)
    assert "--start-time=02:00" in joined and f"--prometheus-url={PROMETHEUS_URL}" in joined
    assert "--concurrency=1" in joined


def test_harbor_pins_every_value_it_would_randomise_and_keeps_trivy(prod):
    values = chart(prod, "harbor").inputs["values"]
    assert values["trivy"]["enabled"] is True
    assert values["core"]["existingSecret"] and values["core"]["secretName"] == "harbor-token-signing"
    assert values["registry"]["credentials"]["existingSecret"] == "harbor-registry-credentials"
    secrets = {s.inputs["metadata"]["name"] for s in kind(prod, "Secret") if s.inputs["metadata"].get("namespace") == "harbor"}
    assert {"harbor-admin", "harbor-encryption", "harbor-core-secrets", "harbor-registry-credentials"} <= secrets
    rendered_secrets = {r.inputs["metadata"]["name"] for r in rendered(prod, "harbor", "Secret")}
    # the chart renders no Secret of its own carrying a random value
    assert not rendered_secrets & {"harbor-core", "harbor-jobservice", "harbor-registry", "harbor-registry-htpasswd"} or all(
        "randAlphaNum" not in json.dumps(r.inputs) for r in rendered(prod, "harbor", "Secret")
    )


def test_harbor_proxy_projects_and_host_mirrors_once_serving(run, prod):
    assert prod.of_type("harbor:index/project:Project") == []  # no hostname: Harbor is not reachable from Pulumi
    values = stack_values("prod")
    values["platform"]["registry"] = {"hostname": "registry.example.com", "serving": True}
    rec = run(values, stack="prod")
    projects = {p.inputs["name"]: p.inputs for p in rec.of_type("harbor:index/project:Project")}
    assert set(projects) == {"docker-io-proxy", "quay-io-proxy", "ghcr-io-proxy", "registry-k8s-io-proxy", "sites"}
    assert all(p["vulnerabilityScanning"] for p in projects.values())
    # The containerd stage's env file on every host names the mirrors (hosts/stages.py containerd_env).
    env_files = [json.dumps(r.inputs) for r in rec.resources if r.name.endswith("-containerd-stage.env")]
    assert len(env_files) == 3
    assert all("docker.io|https://registry.example.com/v2/docker-io-proxy|true" in text for text in env_files)
    assert all("REGISTRY_MIRRORS=" not in text or "ghcr.io|" in text for text in env_files)


def test_velero_kopia_csi_data_mover_s3_and_schedules_from_config(prod, dev):
    values = chart(prod, "velero").inputs["values"]
    configuration = values["configuration"]
    assert configuration["uploaderType"] == "kopia" and configuration["defaultSnapshotMoveData"] is True
    assert "EnableCSI" in configuration["features"]
    (location,) = configuration["backupStorageLocation"]
    assert (location["provider"], location["bucket"]) == ("aws", "magento-prod-velero")
    assert location["config"]["s3Url"] == "https://s3.gra.io.cloud.ovh.net"
    assert values["initContainers"][0]["image"] == versions.image("velero-plugin-for-aws").ref
    schedules = values["schedules"]
    assert schedules["cluster-objects"]["template"]["ttl"] == "720h0m0s"
    assert schedules["volumes"]["template"]["snapshotMoveData"] is True
    assert schedules["volumes"]["template"]["ttl"] == "336h0m0s"
    assert rendered(prod, "velero", "Schedule") and rendered(prod, "velero", "BackupStorageLocation")
    assert schema_problems(rendered(prod, "velero", "Schedule") + rendered(prod, "velero", "BackupStorageLocation")) == []
    assert not [r for r in dev.resources if r.name == "velero"]


def test_argocd_project_per_site_denies_guard_rail_kinds(prod):
    projects = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in kind(prod, "AppProject")}
    assert set(projects) == {"site-shop-fr", "site-shop-de"}
    spec = projects["site-shop-fr"]
    assert spec["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "site-shop-fr"}]
    assert spec["clusterResourceWhitelist"] == []
    assert {"group": "", "kind": "Secret"} in spec["namespaceResourceBlacklist"]
    assert schema_problems(kind(prod, "AppProject")) == []
    assert kind(prod, "Application") == []  # every prod site is delivered directly


def test_gitops_delivery_renders_to_the_tenant_directory_and_never_a_secret(run):
    values = stack_values("dev")
    values["platform"] = {"gitops": {"repository": "https://git.example.com/platform/gitops.git"}}
    values["sites"][0]["delivery"] = "gitops"
    rec = run(values, stack="dev")
    (application,) = kind(rec, "Application")
    assert application.inputs["spec"]["source"]["path"] == "tenants/demo"
    assert application.inputs["spec"]["destination"]["namespace"] == "site-demo"
    assert schema_problems([application]) == []
    (provider,) = [p for p in rec.of_type("pulumi:providers:kubernetes") if p.name == "gitops-demo"]
    assert provider.inputs["renderYamlToDirectory"] == "gitops/tenants/demo"
    rendered_with_it = [r for r in rec.resources if r.provider and r.provider.startswith(provider.urn + "::")]
    # The site's credentials reach it as ExternalSecrets written to the tenant directory; no Secret is ever written.
    external = {r.inputs["metadata"]["name"]: r for r in rendered_with_it if r.inputs.get("kind") == "ExternalSecret"}
    assert {"database-credentials", "search-credentials", "queue-credentials"} <= set(external)
    assert external["database-credentials"].inputs["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "site-demo"}
    assert schema_problems(list(external.values())) == []
    assert [r.name for r in rendered_with_it if r.inputs.get("kind") == "Secret"] == []
    # A direct site gets none: its workloads are applied by Pulumi.
    assert kind(recording_for("dev"), "ExternalSecret") == []


def test_platform_configuration_problems_name_the_key():
    values = stack_values("dev")
    values["sites"][0]["delivery"] = "gitops"
    values["platform"] = {"admission": {"runtimeBlockSites": ["nope"]}, "registry": {"serving": True}}
    found = problems(values)
    assert "platform.gitops" in found["sites[0].delivery"]
    assert "not a configured site" in found["platform.admission.runtimeBlockSites[0]"]
    assert "hostname" in found["platform.registry.serving"]
    bad = stack_values("dev")
    bad["platform"] = {"reboots": {"startTime": "25:00"}}
    assert "platform.reboots.startTime" in problems(bad)


def test_no_bitnami_image_in_anything_the_platform_renders(stack_recording):
    images = []
    for record in stack_recording.rendered_objects():
        text = json.dumps(record.inputs)
        images += [part for part in text.split('"') if "bitnami" in part.lower()]
    assert images == []


def test_every_platform_image_is_pinned(stack_recording):
    for name in PLATFORM_CHARTS:
        for record in rendered(stack_recording, name):
            spec = record.inputs.get("spec") or {}
            pod = (spec.get("template") or {}).get("spec") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec")
            if not pod:
                continue
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                image = container["image"]
                assert ":" in image.rsplit("/", 1)[-1] and not image.endswith((":latest", ":stable")), f"{name}: {image}"


def _tenancy(site: str):
    import pulumi

    from components.data.tenancy import (
        Credential,
        DatabaseTenancy,
        MediaTenancy,
        QueueTenancy,
        SearchTenancy,
        SiteDataTenancy,
        ValkeyStore,
    )

    def cred(user: str) -> Credential:
        return Credential(user, pulumi.Output.secret(f"pw-{user}"))

    return SiteDataTenancy(
        site=site,
        database=DatabaseTenancy("pxc-haproxy.data.svc", 3306, f"magento_{site}", cred(f"db-{site}")),
        search=SearchTenancy("opensearch.data.svc", 9200, "https", f"{site}_", cred(f"search-{site}")),
        queue=QueueTenancy("rabbitmq.data.svc", 5672, f"/{site}", cred(f"queue-{site}")),
        valkey={p: ValkeyStore(p, "valkey.data.svc", 6379, i, cred(f"{p}-{site}")) for i, p in enumerate(("cache", "page_cache", "session"))},
        media=MediaTenancy("https://s3.example", "gra", "media", f"{site}/", pulumi.Output.secret("AK"), pulumi.Output.secret("SK")),
    )


def test_site_secrets_are_written_per_site_and_service_with_a_policy_each():
    """SiteSecrets with a tenancy for two sites (the data layer hands the real one; on main it is still empty)."""
    import pulumi

    from components.config import validate
    from components.platform.site_secrets import SiteSecrets, site_services
    from offline.engine import run_program
    from offline.stackfile import load_stack

    config = validate({key: value for key, value in stack_values("prod").items() if ":" not in key})

    def program() -> None:
        SiteSecrets("site-secrets", config, pulumi.Output.secret("token"), {s: _tenancy(s) for s in ("shop-fr", "shop-de")})

    rec = run_program(load_stack("prod"), program=program)
    secrets = {r.inputs["name"]: r for r in rec.of_type("vault:kv/secretV2:SecretV2")}
    assert set(secrets) == {f"sites/{site}/{service}" for site in ("shop-fr", "shop-de") for service in site_services(config)}
    entry = secrets["sites/shop-fr/database"]
    assert entry.is_secret("dataJson")
    assert json.loads(entry.inputs["dataJson"]) == {
        "dbname": "magento_shop-fr", "host": "pxc-haproxy.data.svc", "password": "pw-db-shop-fr", "port": "3306", "username": "db-shop-fr",
    }
    policies = {r.inputs["name"]: r.inputs["policy"] for r in rec.of_type("vault:index/policy:Policy")}
    assert 'path "magento/data/sites/shop-fr/*"' in policies["site-shop-fr"] and "shop-de" not in policies["site-shop-fr"]
    roles = {r.inputs["roleName"]: r.inputs for r in rec.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")}
    assert roles["site-shop-fr"]["boundServiceAccountNamespaces"] == ["external-secrets"]
    assert roles["site-shop-fr"]["tokenPolicies"] == ["site-shop-fr"]
    (provider,) = rec.of_type("pulumi:providers:vault")
    assert provider.is_secret("token") and provider.inputs["address"] == "https://127.0.0.1:8200"
    # Verified: the CA file operators write from the stack output, under the store's Service name.
    assert (provider.inputs["caCertFile"], provider.inputs["tlsServerName"]) == ("build/secrets-store-ca.crt", "openbao.openbao.svc")
    (mount,) = rec.of_type("vault:index/mount:Mount")
    assert (mount.inputs["path"], mount.inputs["options"]) == ("magento", {"version": "2"})


def test_a_secret_written_to_the_store_is_not_plain_but_a_copy_in_a_config_map_is():
    """secret-values-not-exposed: pulumi-vault's SecretV2 keeps dataJson secret (a holder); a ConfigMap does not."""
    import pulumi_random as random
    import pulumi_vault as vault

    from tests.policy_support import evaluate, of_policy

    def program(leak: bool) -> None:
        import pulumi_kubernetes as k8s

        password = random.RandomPassword("db", length=24, special=False)
        # The data layer keeps the same value in a Secret (the source the policy compares against).
        k8s.core.v1.Secret("db", metadata={"name": "db", "namespace": "site-demo"}, string_data={"password": password.result})
        provider = vault.Provider("store", address="http://127.0.0.1:8200", token=pulumi.Output.secret("t"))
        vault.kv.SecretV2("db", mount="magento", name="sites/demo/database",
                          data_json=password.result.apply(lambda p: json.dumps({"password": p})),
                          opts=pulumi.ResourceOptions(provider=provider))
        if leak:
            k8s.core.v1.ConfigMap("leak", metadata={"name": "leak", "namespace": "site-demo"},
                                  data={"dsn": password.result.apply(lambda p: f"mysql://u:{p}@db/m")})

    assert of_policy(evaluate(lambda: program(False)), "secret-values-not-exposed") == []
    found = of_policy(evaluate(lambda: program(True)), "secret-values-not-exposed")
    assert [v.resource_name for v in found] == ["leak"]
