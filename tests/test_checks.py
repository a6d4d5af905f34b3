"""Schema validation and referential checks: they pass on every stack, and they catch what they claim."""

from __future__ import annotations

import copy

import pytest

from offline.checks import run_checks
from offline.engine import Recording
from offline.references import check_references
from offline.schemas import CRD_SCHEMAS, crd_schemas_available, is_core, validate_object

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "site-a"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "docker.io/library/nginx:1.28.0",
                    "envFrom": [{"configMapRef": {"name": "web-env"}}],
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                }],
                "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}}],
            },
        },
    },
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site-a"}}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "site-a"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}
SUPPORT = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-env", "namespace": "site-a"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "site-a"}},
    {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": "site-a"},
     "spec": {"secretName": "web-tls", "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}, "dnsNames": ["a.example"]}},
]


@pytest.mark.parametrize("name", ["schema", "references", "providers"])
def test_every_stack_passes_the_check(stack_recording: Recording, name: str):
    result = run_checks(stack_recording)[name]
    assert result["checked"] > 0
    assert result["problems"] == []


def test_schema_accepts_a_valid_deployment():
    assert validate_object(DEPLOYMENT) == []


def test_schema_rejects_an_unknown_field_strictly():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    problems = validate_object(bad)
    assert len(problems) == 1 and "imagePullPolicyy" in problems[0].message


def test_schema_rejects_a_wrong_type():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "two"
    assert validate_object(bad)


def test_schema_requires_an_explicit_name():
    bad = copy.deepcopy(NAMESPACE)
    bad["metadata"] = {"generateName": "site-"}
    assert "metadata.name is missing" in validate_object(bad)[0].message


@pytest.mark.skipif(
    not crd_schemas_available(),
    reason=f"CRD schemas folder absent ({CRD_SCHEMAS}): custom resources are not schema-validated in this run",
)
def test_custom_resources_validate_against_their_crd_schema():
    certificate = SUPPORT[2]
    assert validate_object(certificate) == []
    bad = copy.deepcopy(certificate)
    bad["spec"]["secretname"] = "typo"
    assert validate_object(bad)


def test_core_and_crd_groups_are_told_apart():
    assert is_core("v1") and is_core("apps/v1") and is_core("networking.k8s.io/v1") and is_core("policy/v1")
    assert not is_core("gateway.networking.k8s.io/v1") and not is_core("cert-manager.io/v1")
    assert not is_core("snapshot.storage.k8s.io/v1")


def test_references_resolve_including_operator_produced_secrets():
    assert check_references([NAMESPACE, DEPLOYMENT, SERVICE, *SUPPORT]) == []


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("web-env", "uses ConfigMap site-a/web-env"),
        ("db", "uses Secret site-a/db"),
        ("web", "uses Secret site-a/web-tls"),  # dropping the Certificate leaves the TLS secret dangling
    ],
)
def test_references_catch_a_missing_secret_or_configmap(drop: str, message: str):
    objects = [NAMESPACE, DEPLOYMENT, SERVICE, *[o for o in SUPPORT if o["metadata"]["name"] != drop]]
    problems = [str(p) for p in check_references(objects)]
    assert any(message in p for p in problems), problems


def test_references_catch_a_service_that_selects_nothing():
    service = copy.deepcopy(SERVICE)
    service["spec"]["selector"] = {"app": "wbe"}
    problems = [str(p) for p in check_references([NAMESPACE, DEPLOYMENT, service, *SUPPORT])]
    assert problems == ["v1/Service site-a/web: selector {'app': 'wbe'} matches no pods of any workload in its namespace"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "site-a"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php"}, "maxReplicas": 3}},
         "scaleTargetRef Deployment site-a/php does not exist"),
        ({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "site-a"},
          "spec": {"selector": {"matchLabels": {"app": "php"}}, "minAvailable": 1}},
         "selector {'app': 'php'} matches no pods"),
        ({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "site-a"},
          "spec": {"podSelector": {"matchLabels": {"app": "php"}}}},
         "podSelector {'app': 'php'} matches no pods"),
        ({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "site-a"},
          "spec": {"parentRefs": [{"name": "shared", "namespace": "edge"}], "rules": [{"backendRefs": [{"name": "waf", "port": 8080}]}]}},
         "backendRef Service site-a/waf does not exist"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nowhere"}},
         "namespace nowhere is neither created by the program nor a system namespace"),
    ],
)
def test_references_catch_dangling_targets(obj: dict, message: str):
    problems = [str(p) for p in check_references([NAMESPACE, DEPLOYMENT, SERVICE, *SUPPORT, obj])]
    assert any(message in p for p in problems), problems


def test_chart_into_a_namespace_nobody_creates_is_caught():
    problems = [str(p) for p in check_references([NAMESPACE], {"cilium": "kube-system", "metallb": "metallb-system"})]
    assert problems == ["chart metallb: namespace metallb-system is neither created by the program nor a system namespace"]


# ------------------------------------------------------------------------------------------ explicit providers
def _with(recording: Recording, **changes: object) -> Recording:
    import dataclasses

    return dataclasses.replace(recording, **changes)


def test_every_kubernetes_aws_and_command_resource_names_its_provider(stack_recording: Recording):
    checked = [r for r in stack_recording.resources
               if r.custom and r.type.split(":")[0] in ("kubernetes", "aws", "command", "vault", "harbor", "ovh") and not r.type.startswith("pulumi:")]
    assert checked and all(r.provider for r in checked)
    if stack_recording.settings.stack == "prod":
        commands = [r for r in checked if r.type.startswith("command:")]
        assert commands and {r.provider.split("::")[-2] for r in commands} == {"command"}


def test_a_resource_relying_on_a_default_provider_fails_the_plan(stack_recording: Recording):
    import dataclasses

    victim = next(r for r in stack_recording.resources if r.custom and r.type.startswith("kubernetes:core/v1:"))
    resources = [dataclasses.replace(r, provider=None) if r is victim else r for r in stack_recording.resources]
    problems = run_checks(_with(stack_recording, resources=resources))["providers"]["problems"]
    assert problems == [f"{victim.type} {victim.name}: no explicit provider (the default kubernetes provider is "
                        "disabled, so `pulumi up` refuses it)"]


def test_a_stack_file_that_keeps_default_providers_fails_the_plan(stack_recording: Recording):
    import dataclasses

    config = {k: v for k, v in stack_recording.settings.config.items() if k != "pulumi:disable-default-providers"}
    config["pulumi:disable-default-providers"] = '["kubernetes"]'
    settings = dataclasses.replace(stack_recording.settings, config=config)
    problems = run_checks(_with(stack_recording, settings=settings))["providers"]["problems"]
    # kubernetes, aws and command always; vault, harbor and ovh where the stack has resources of them (prod's
    # OpenBao, the stores' OVH S3 users)
    used = [p for p in ("vault", "harbor", "ovh") if any(r.type.startswith(f"{p}:") for r in stack_recording.resources)]
    assert settings.stack == "dev" or "vault" in used
    assert problems == [f"pulumi:disable-default-providers in Pulumi.{settings.stack}.yaml does not list "
                        f"{', '.join(['aws', 'command', *used])} (every resource must name its provider)"]


def test_a_provider_package_missing_from_the_requirements_fails_the_plan(prod: Recording, tmp_path):
    from offline.checks import REQUIREMENTS, provider_check

    assert provider_check(prod)["problems"] == []
    without_ovh = tmp_path / "requirements.txt"
    without_ovh.write_text("".join(line + "\n" for line in REQUIREMENTS.read_text().splitlines() if not line.startswith("pulumi-ovh")))
    assert provider_check(prod, without_ovh)["problems"] == [
        "provider package ovh (pulumi-ovh) is not pinned in requirements.txt (the program registers its resources)"]
