"""A `delivery: gitops` store beside a direct one, the whole program under mocks: the gitops store's workloads
are registered with its render provider (written to tenants/<site>/, applied by Argo CD), its guard rails
with the cluster provider, no Secret is ever rendered, and the direct store is built as before."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from offline.checks import gitops_check
from offline.engine import Recorded, Recording, run_program
from offline.policy_check import check_recording
from offline.stackfile import settings_from_values
from sites.gitops import PULUMI_KINDS
from tests.layer_helpers import problems, schema_problems, stack_values

WAVE = "argocd.argoproj.io/sync-wave"


def gitops_values() -> dict:
    """dev with the GitOps repository, its store `demo` delivered by gitops and a second store `shop` direct."""
    values = stack_values("dev")
    values["platform"] = {**values.get("platform", {}), "gitops": {"repository": "https://git.example.com/platform/gitops.git"}}
    demo = values["sites"][0]
    shop = copy.deepcopy(demo)
    shop.update(name="shop", domains=["shop.magento.test"])
    demo["delivery"] = "gitops"
    values["sites"] = [demo, shop]
    return values


@pytest.fixture(scope="module")
def rec() -> Recording:
    return run_program(settings_from_values(gitops_values(), stack="dev"))


def provider_urn(record: Recorded) -> str | None:
    return record.provider.rsplit("::", 1)[0] if record.provider else None


def render_urn(rec: Recording, site: str) -> str:
    (provider,) = [p for p in rec.of_type("pulumi:providers:kubernetes") if p.name == f"gitops-{site}"]
    assert provider.inputs["renderYamlToDirectory"] == f"gitops/tenants/{site}"
    return provider.urn


def in_namespace(rec: Recording, namespace: str) -> list[Recorded]:
    return [r for r in rec.own_objects() if (r.inputs.get("metadata") or {}).get("namespace") == namespace]


def group_kind(record: Recorded) -> tuple[str, str]:
    api_version = record.inputs["apiVersion"]
    return (api_version.rsplit("/", 1)[0] if "/" in api_version else "", record.inputs["kind"])


def named(records: list[Recorded], kind: str, name: str) -> Recorded:
    (found,) = [r for r in records if r.inputs["kind"] == kind and r.inputs["metadata"]["name"] == name]
    return found


def test_gitops_store_workloads_use_its_render_provider_and_guard_rails_the_cluster(rec):
    render = render_urn(rec, "demo")
    objects = in_namespace(rec, "site-demo")
    rendered = [r for r in objects if provider_urn(r) == render]
    kept = [r for r in objects if provider_urn(r) != render]
    # Pulumi keeps exactly what the AppProject denies Argo CD; everything else is rendered.
    assert {group_kind(r) for r in kept} <= PULUMI_KINDS
    assert not {group_kind(r) for r in rendered} & PULUMI_KINDS, sorted((r.name, group_kind(r)) for r in rendered if group_kind(r) in PULUMI_KINDS)
    assert {("", "ResourceQuota"), ("", "LimitRange"), ("networking.k8s.io", "NetworkPolicy"), ("cilium.io", "CiliumNetworkPolicy"),
            ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"), ("", "PersistentVolumeClaim"),
            ("security.kubearmor.com", "KubeArmorPolicy")} <= {group_kind(r) for r in kept}
    kinds = {r.inputs["kind"] for r in rendered}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Job", "CronJob", "HorizontalPodAutoscaler", "HTTPRoute",
            "BackendTrafficPolicy", "ScaledObject", "TriggerAuthentication", "ExternalSecret", "ServiceAccount"} <= kinds
    # The WAF's network policies and the media volume stay on the cluster side, in the rendered components' midst.
    assert provider_urn(named(objects, "NetworkPolicy", "waf-from-gateway")) != render
    media = named(objects, "PersistentVolumeClaim", "media")
    assert provider_urn(media) != render and media.retain_on_delete  # (protect: dev sets protectStateful false)
    # The namespace itself (cluster-scoped) is Pulumi's.
    (namespace,) = [r for r in rec.own_objects() if r.inputs["kind"] == "Namespace" and r.inputs["metadata"]["name"] == "site-demo"]
    assert provider_urn(namespace) != render
    assert schema_problems(rendered) == []


def test_no_secret_is_ever_registered_with_a_render_provider(rec):
    renderers = {p.urn for p in rec.of_type("pulumi:providers:kubernetes") if p.inputs.get("renderYamlToDirectory")}
    assert renderers
    assert [r.name for r in rec.kubernetes_objects() if r.inputs["kind"] == "Secret" and provider_urn(r) in renderers] == []
    assert [r.name for r in in_namespace(rec, "site-demo") if r.inputs["kind"] == "Secret"] == []
    assert gitops_check(rec)["problems"] == []
    assert gitops_check(rec)["checked"] > 50


def test_the_gitops_store_secrets_are_external_secrets_of_what_the_platform_writes(rec):
    render = render_urn(rec, "demo")
    external = {r.inputs["metadata"]["name"]: r for r in in_namespace(rec, "site-demo") if r.inputs["kind"] == "ExternalSecret"}
    assert {"magento-env", "rabbitmq-keda", "database-credentials", "queue-credentials"} <= set(external)
    assert all(provider_urn(r) == render for r in external.values())
    env = external["magento-env"].inputs
    assert env["spec"]["dataFrom"] == [{"extract": {"key": "sites/demo/env-php"}}]
    assert env["spec"]["target"]["name"] == "magento-env"
    assert env["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "site-demo"}
    assert len(env["metadata"]["annotations"]["magento.io/content-checksum"]) == 16
    assert external["rabbitmq-keda"].inputs["spec"]["dataFrom"] == [{"extract": {"key": "sites/demo/keda"}}]
    # The platform writes those entries into OpenBao (the site's policy reads sites/demo/* only), as secrets.
    entries = {r.inputs["name"]: r for r in rec.of_type("vault:kv/secretV2:SecretV2")}
    env_entry = entries["sites/demo/env-php"]
    assert env_entry.is_secret("dataJson") and "<?php" in env_entry.inputs["dataJson"]
    assert "amqp://" in entries["sites/demo/keda"].inputs["dataJson"]
    # A direct store keeps its Secrets and writes no such entry.
    assert "sites/shop/env-php" not in entries


def test_argo_cd_applies_release_then_tiers_then_resume_and_leaves_replicas_to_the_autoscalers(rec):
    objects = in_namespace(rec, "site-demo")
    waves = {(r.inputs["kind"], r.inputs["metadata"]["name"]): int(r.inputs["metadata"]["annotations"][WAVE])
             for r in objects if WAVE in (r.inputs["metadata"].get("annotations") or {})}
    jobs = {name: wave for (kind, name), wave in waves.items() if kind == "Job"}
    release = next(wave for name, wave in jobs.items() if name.startswith("release-"))
    resume = next(wave for name, wave in jobs.items() if name.startswith("resume-"))
    tiers = [wave for (kind, _), wave in waves.items() if kind in ("Deployment", "CronJob")]
    assert waves[("ExternalSecret", "magento-env")] < release < min(tiers) <= max(tiers) < resume
    assert {name for (kind, name) in waves if kind == "Deployment"} >= {"php-fpm", "nginx", "consumer-async"}
    for deployment in [r for r in objects if r.inputs["kind"] == "Deployment"]:
        assert "replicas" not in deployment.inputs["spec"], deployment.name  # the HPA or KEDA owns the count


def test_direct_store_is_applied_by_pulumi_as_before(rec):
    shop = in_namespace(rec, "site-shop")
    renderers = {p.urn for p in rec.of_type("pulumi:providers:kubernetes") if p.inputs.get("renderYamlToDirectory")}
    assert shop and not [r.name for r in shop if provider_urn(r) in renderers]
    secrets = {r.inputs["metadata"]["name"] for r in shop if r.inputs["kind"] == "Secret"}
    assert {"magento-env", "rabbitmq-keda"} <= secrets
    assert not [r.name for r in shop if WAVE in (r.inputs["metadata"].get("annotations") or {})]
    assert named(shop, "Deployment", "php-fpm").inputs["spec"]["replicas"] == 1
    # The same objects as the gitops store, kind for kind, except its Secrets (ExternalSecrets there).
    demo = in_namespace(rec, "site-demo")
    assert ({group_kind(r) for r in shop} - {("", "Secret")}) == ({group_kind(r) for r in demo} - {("external-secrets.io", "ExternalSecret")})


def test_the_plan_check_finds_a_rendered_secret_and_a_workload_left_on_the_cluster(rec):
    config_map = named(in_namespace(rec, "site-demo"), "ConfigMap", "magento-php")
    secret = dataclasses.replace(config_map, name="leak", urn=config_map.urn + "-leak",
                                 inputs={**config_map.inputs, "kind": "Secret", "apiVersion": "v1"})
    applied = dataclasses.replace(config_map, name="direct", urn=config_map.urn + "-direct", provider=None,
                                  inputs={**config_map.inputs, "metadata": {**config_map.inputs["metadata"], "name": "direct"}})
    broken = dataclasses.replace(rec, resources=[*rec.resources, secret, applied])
    problems = gitops_check(broken)["problems"]
    assert any("leak" in p and "gitops/tenants/demo" in p and "plain text" in p for p in problems)
    assert any("direct" in p and "applied directly" in p for p in problems)
    assert len(problems) == 2


def test_a_gitops_store_cannot_have_its_own_stack():
    values = gitops_values()
    values["sites"][0]["deployment"] = "stack"
    assert "deployment: platform" in problems(values)["sites[0].delivery"]
    assert problems(gitops_values()) == {}


def test_the_policy_pack_passes_the_stack_with_a_gitops_store(rec):
    report = check_recording(rec)
    assert [v.message for v in report.violations if v.level == "mandatory"] == []
    assert report.policies["secret-not-rendered"] == "mandatory"
