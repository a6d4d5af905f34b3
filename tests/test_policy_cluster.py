"""Namespace, site isolation, disruption budget, load balancer and secrets-hygiene policies."""

from __future__ import annotations

import base64

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest

from components import k8s as kube
from components.config.model import Site
from sites.tenancy import SiteTenancy, SiteTenancyArgs
from tests.policy_support import SITE_NS, compliant_container, deployment, evaluate, messages, of_policy, rendered_by_chart

# ------------------------------------------------------------------------------------------ namespaces


def test_namespaces_built_with_the_shared_helper_pass():
    report = evaluate(
        lambda: kube.namespace("ns", "monitoring", level="baseline", component="test", opts=pulumi.ResourceOptions())
    )
    assert report.violations == []


@pytest.mark.parametrize(
    ("name", "labels", "fragment"),
    [
        ("plain", {}, "has no valid label pod-security.kubernetes.io/enforce"),
        ("tools", {**kube.pod_security_labels("privileged")}, "enforces 'privileged' but is not a reviewed system namespace"),
        ("site-x", {**kube.pod_security_labels("baseline")}, "site Namespace site-x must enforce 'restricted'"),
        ("half", {"pod-security.kubernetes.io/enforce": "restricted"}, "no valid label pod-security.kubernetes.io/warn"),
    ],
)
def test_namespaces_without_proper_pod_security_labels_fail(name, labels, fragment):
    report = evaluate(lambda: k8s.core.v1.Namespace(name, metadata={"name": name, "labels": labels}))
    assert fragment in messages(report, "namespace-pod-security")
    assert all(v.resource_name == name for v in of_policy(report, "namespace-pod-security"))


def test_privileged_is_allowed_for_reviewed_system_namespaces():
    report = evaluate(
        lambda: kube.namespace("ns", "metallb-system", level="privileged", component="net", opts=pulumi.ResourceOptions())
    )
    assert report.violations == []


# ------------------------------------------------------------------------------------------ site isolation


def _site(name: str = "demo") -> Site:
    return Site(name=name, domains=["shop.example.com"], image={"repository": "ghcr.io/example/shop", "tag": "1.0.0"})


def test_site_tenancy_satisfies_site_isolation():
    report = evaluate(lambda: SiteTenancy("demo", SiteTenancyArgs(_site())))
    assert of_policy(report, "site-namespace-isolation") == []


def test_site_namespace_without_deny_policy_or_quota_fails():
    def program():
        kube.namespace("ns", "site-bare", level="restricted", component="site", opts=pulumi.ResourceOptions())
        # an allow rule is not a default deny
        k8s.networking.v1.NetworkPolicy(
            "allow",
            metadata={"name": "allow-web", "namespace": "site-bare"},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{"from": [{"podSelector": {}}]}]},
        )

    found = of_policy(evaluate(program), "site-namespace-isolation")
    assert {v.resource_name for v in found} == {"ns"}
    text = "\n".join(v.message for v in found)
    assert "site Namespace site-bare has no default-deny NetworkPolicy" in text
    assert "site Namespace site-bare has no ResourceQuota bounding cpu and memory" in text


# ------------------------------------------------------------------------------------------ disruption budgets


def _pdb(namespace: str = SITE_NS, selector: dict | None = None) -> None:
    k8s.policy.v1.PodDisruptionBudget(
        "pdb",
        metadata={"name": "web", "namespace": namespace},
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector or {"app": "web"}}},
    )


SPREAD = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app": "web"}}}]


def test_multi_replica_deployment_without_pdb_fails_and_with_pdb_passes():
    failing = evaluate(lambda: deployment(replicas=3, topologySpreadConstraints=SPREAD))
    assert "Deployment site-demo/web runs more than one replica but no PodDisruptionBudget" in messages(failing, "workload-pdb")
    assert evaluate(lambda: (deployment(replicas=3, topologySpreadConstraints=SPREAD), _pdb())).violations == []


def test_multi_replica_deployment_must_spread_over_hosts_or_zones():
    failing = evaluate(lambda: (deployment(replicas=3), _pdb()))
    assert "Deployment site-demo/web runs more than one replica but nothing keeps them on different hosts" in messages(
        failing, "workload-spread"
    )
    # A spread constraint whose selector misses the pods does not count; an anti-affinity term does.
    wrong = [{**SPREAD[0], "labelSelector": {"matchLabels": {"app": "other"}}}]
    assert of_policy(evaluate(lambda: (deployment(replicas=3, topologySpreadConstraints=wrong), _pdb())), "workload-spread")
    anti = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}}
    ]}}
    assert evaluate(lambda: (deployment(replicas=3, affinity=anti), _pdb())).violations == []
    assert of_policy(evaluate(lambda: deployment(replicas=1)), "workload-spread") == []


def test_pdb_must_select_the_pods_in_the_same_namespace():
    assert of_policy(evaluate(lambda: (deployment(replicas=2), _pdb(selector={"app": "other"}))), "workload-pdb")
    assert of_policy(evaluate(lambda: (deployment(replicas=2), _pdb(namespace="site-other"))), "workload-pdb")


def test_autoscaler_minimum_counts_as_replicas():
    def program(min_replicas: int):
        deployment(replicas=None)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            "hpa",
            metadata={"name": "web", "namespace": SITE_NS},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": min_replicas,
                "maxReplicas": 6,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
                ],
            },
        )

    assert of_policy(evaluate(lambda: program(2)), "workload-pdb")
    assert of_policy(evaluate(lambda: program(1)), "workload-pdb") == []


def test_chart_workloads_with_several_replicas_need_a_pdb_too():
    def program():
        deployment(replicas=1)
        k8s.apps.v1.Deployment(
            "op",
            metadata={"name": "cilium-operator", "namespace": "kube-system"},
            spec={
                "replicas": 2,
                "selector": {"matchLabels": {"io.cilium/app": "operator"}},
                "template": {
                    "metadata": {"labels": {"io.cilium/app": "operator"}},
                    "spec": {"containers": [compliant_container(image="quay.io/cilium/operator-generic:v1.20.4")]},
                },
            },
            opts=rendered_by_chart("cilium"),
        )

    assert "Deployment kube-system/cilium-operator runs more than one replica" in messages(evaluate(program), "workload-pdb")
    assert of_policy(evaluate(lambda: deployment(replicas=1)), "workload-pdb") == []


# ------------------------------------------------------------------------------------------ load balancers


def _service(namespace: str, kind: str = "LoadBalancer") -> None:
    k8s.core.v1.Service(
        f"{namespace}-svc",
        metadata={"name": "gateway", "namespace": namespace},
        spec={"type": kind, "selector": {"app": "x"}, "ports": [{"port": 443}]},
    )


def test_load_balancer_outside_the_edge_fails():
    report = evaluate(lambda: _service(SITE_NS))
    assert "Service site-demo/gateway is a LoadBalancer outside the edge namespaces" in messages(
        report, "loadbalancer-only-at-edge"
    )


@pytest.mark.parametrize(
    ("namespace", "kind"), [("edge", "LoadBalancer"), ("envoy-gateway-system", "LoadBalancer"), (SITE_NS, "ClusterIP")]
)
def test_load_balancer_at_the_edge_and_cluster_ip_anywhere_pass(namespace, kind):
    assert of_policy(evaluate(lambda: _service(namespace, kind)), "loadbalancer-only-at-edge") == []


# ------------------------------------------------------------------------------------------ secrets


def test_secret_looking_configmap_keys_and_private_keys_fail():
    def program():
        k8s.core.v1.ConfigMap(
            "env",
            metadata={"name": "env", "namespace": SITE_NS},
            data={"DB_PASSWORD": "x", "DB_PASSWORD_FILE": "/run/secrets/db", "TOKEN_SERVICE_URL": "http://core/token",
                  "API_TOKENS": "abcdefgh12345678"},
        )
        k8s.core.v1.ConfigMap(
            "keys",
            metadata={"name": "keys", "namespace": SITE_NS},
            data={"deploy": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"},
        )

    text = messages(evaluate(program), "no-plaintext-secrets")
    assert "ConfigMap key 'DB_PASSWORD' looks like a secret" in text
    assert "ConfigMap key 'deploy' holds a private key" in text
    assert "ConfigMap key 'API_TOKENS' looks like a secret" in text
    assert "DB_PASSWORD_FILE" not in text and "TOKEN_SERVICE_URL" not in text


def test_plain_secret_env_values_fail_and_secret_refs_pass():
    plain = compliant_container(env=[{"name": "MAGENTO_ADMIN_PASSWORD", "value": "hunter22"}])
    ref = compliant_container(
        env=[
            {"name": "MAGENTO_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "admin", "key": "password"}}},
            {"name": "MAGENTO_MODE", "value": "production"},
        ]
    )
    assert "sets env MAGENTO_ADMIN_PASSWORD as a plain value" in messages(
        evaluate(lambda: deployment(container=plain)), "no-plaintext-secrets"
    )
    assert of_policy(evaluate(lambda: deployment(container=ref)), "no-plaintext-secrets") == []


def test_chart_configmaps_are_not_judged_by_key_names():
    report = evaluate(
        lambda: k8s.core.v1.ConfigMap(
            "harbor-core",
            metadata={"name": "harbor-core", "namespace": "harbor"},
            data={"CORE_SECRET_KEY_PATH": "/etc/core/key", "TOKEN_EXPIRATION": "30"},
            opts=rendered_by_chart("harbor"),
        )
    )
    assert report.violations == []


def test_weak_secret_values_fail():
    report = evaluate(
        lambda: k8s.core.v1.Secret(
            "admin", metadata={"name": "admin", "namespace": SITE_NS}, string_data={"password": "changeme"}
        )
    )
    assert "stringData.password is a well-known weak value" in messages(report, "secret-values-not-exposed")


def test_secret_value_copied_into_plain_fields_fails():
    def program():
        password = random.RandomPassword("db", length=24, special=False)
        k8s.core.v1.Secret("db", metadata={"name": "db", "namespace": SITE_NS}, string_data={"password": password.result})
        k8s.core.v1.ConfigMap(
            "leak",
            metadata={"name": "leak", "namespace": SITE_NS},
            data={"database_url": password.result.apply(lambda p: f"mysql://magento:{p}@db/magento")},
        )

    found = of_policy(evaluate(program), "secret-values-not-exposed")
    assert [v.resource_name for v in found] == ["leak"]
    assert (
        "plain field data.database_url contains the secret stringData.password of kubernetes:core/v1:Secret db"
        in found[0].message
    )


def test_every_secret_a_plain_field_holds_is_reported_once():
    """Secrets sharing their last characters, one inside another and one at the very start of the text: each one
    the text holds is named, and one it does not hold is not."""
    secrets = {"outer": "alpha-secret-1234", "inner": "secret-1234", "lead": "leading-token", "absent": "not-in-the-text"}

    def program():
        for name, value in secrets.items():
            k8s.core.v1.Secret(name, metadata={"name": name, "namespace": SITE_NS}, string_data={"value": value})
        k8s.core.v1.ConfigMap("leak", metadata={"name": "leak", "namespace": SITE_NS},
                              data={"text": "leading-token then alpha-secret-1234 and secret-1234 again"})

    found = of_policy(evaluate(program), "secret-values-not-exposed")
    assert [v.resource_name for v in found] == ["leak"] * 3
    assert [v.message.rsplit(" ", 1)[-1] for v in found] == ["inner", "lead", "outer"]  # the stack's resources by URN


def test_base64_data_secrets_are_compared_decoded_and_clean_secrets_pass():
    value = "s3cr3t-value-from-bao"

    def program(leak: bool):
        k8s.core.v1.Secret(
            "db", metadata={"name": "db", "namespace": SITE_NS}, data={"password": base64.b64encode(value.encode()).decode()}
        )
        annotations = {"note": f"password is {value}"} if leak else {"note": "see secret db"}
        k8s.core.v1.ConfigMap("cm", metadata={"name": "cm", "namespace": SITE_NS, "annotations": annotations}, data={"a": "b"})

    assert of_policy(evaluate(lambda: program(True)), "secret-values-not-exposed")
    assert of_policy(evaluate(lambda: program(False)), "secret-values-not-exposed") == []


def test_a_certificate_beside_its_key_may_be_public_and_the_key_never():
    """A CA's certificate (public) from a TLS Secret in a ConfigMap passes; its private key there fails."""
    from components.data.search_tls import ca_material

    ca = ca_material("policy-test-seed-" + "0" * 47, "test")

    def program(what: str):
        k8s.core.v1.Secret("ca", metadata={"name": "ca", "namespace": SITE_NS}, type="kubernetes.io/tls",
                           string_data={"tls.crt": pulumi.Output.secret(ca.cert_pem), "tls.key": pulumi.Output.secret(ca.key_pem)})
        value = {"cert": ca.cert_pem, "key": ca.cert_pem + ca.key_pem}[what]
        k8s.core.v1.ConfigMap("trust", metadata={"name": "trust", "namespace": SITE_NS}, data={"bundle.pem": value})

    assert of_policy(evaluate(lambda: program("cert")), "secret-values-not-exposed") == []
    found = of_policy(evaluate(lambda: program("key")), "secret-values-not-exposed")
    assert [v.resource_name for v in found] == ["trust"] and "stringData.tls.key" in found[0].message


def test_a_secret_given_to_a_rendering_provider_fails_and_one_applied_to_the_cluster_passes():
    def program(rendering: bool):
        provider = k8s.Provider("gitops-demo", render_yaml_to_directory="gitops/tenants/demo") if rendering else k8s.Provider("cluster")
        k8s.core.v1.Secret("env", metadata={"name": "magento-env", "namespace": SITE_NS}, string_data={"env.php": "<?php return [];"},
                           opts=pulumi.ResourceOptions(provider=provider))

    found = of_policy(evaluate(lambda: program(True)), "secret-not-rendered")
    assert [v.resource_name for v in found] == ["env"]
    assert "renders to gitops/tenants/demo" in found[0].message and "plain text" in found[0].message
    assert of_policy(evaluate(lambda: program(False)), "secret-not-rendered") == []
