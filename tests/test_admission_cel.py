"""The Kyverno ValidatingPolicies' CEL, through a real CEL evaluator: each rule denies what it names and
admits a compliant pod, autogen extends them to pod controllers as Kyverno 1.19 does, and every store's
workloads in both stacks (and a gitops store's) are admitted."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from offline.admission_check import (
    CompiledPolicy,
    Verdict,
    admission_check,
    autogen_policies,
    compile_problems,
    evaluate_policy,
    recorded_policies,
    rewrite,
)
from offline.cel_eval import CelCompileError, compile_expression, evaluate
from offline.engine import Recording, run_program
from offline.stackfile import settings_from_values
from tests.test_sites_gitops import gitops_values

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "site-a", "labels": {"magento.io/site": "a"}}}
UNLABELLED = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tools", "labels": {"team": "ops"}}}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
SECURE = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "php-fpm", "namespace": "site-a", "labels": {"app": "php-fpm"}},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "setup", "image": "ghcr.io/example/magento:2.4.8-p3-1", "securityContext": dict(SECURE),
                            "resources": copy.deepcopy(RESOURCES)}],
        "containers": [{"name": "php", "image": "ghcr.io/example/magento:2.4.8-p3-1", "securityContext": copy.deepcopy(SECURE),
                        "resources": copy.deepcopy(RESOURCES), "ports": [{"containerPort": 9000}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    },
}


@pytest.fixture
def policies(dev: Recording) -> dict[str, CompiledPolicy]:
    """The policies as the dev stack registers them (not re-built here): name -> the Pod policy."""
    return {p.name: p for p in recorded_policies(dev) if p.autogen is None}


def pod(change: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    obj = copy.deepcopy(POD)
    if change:
        change(obj)
    return obj


def php(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["containers"][0]


def messages(policy: CompiledPolicy) -> list[str]:
    return [v["message"] for v in policy.spec["validations"]]


RESTRICTED = "site-restricted-pod-security"
REGISTRIES = "site-allowed-registries"
LATEST = "site-no-latest-tag"
LIMITS = "site-require-limits"

# (policy, the rule's message starts with, what breaks it). Each case breaks exactly one rule.
DENIED: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    (RESTRICTED, "hostNetwork", lambda o: o["spec"].update(hostNetwork=True)),
    (RESTRICTED, "hostPID", lambda o: o["spec"].update(hostPID=True)),
    (RESTRICTED, "hostIPC", lambda o: o["spec"].update(hostIPC=True)),
    (RESTRICTED, "hostPath", lambda o: o["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})),
    (RESTRICTED, "privileged", lambda o: php(o)["securityContext"].update(privileged=True)),
    (RESTRICTED, "every container sets securityContext.allowPrivilegeEscalation", lambda o: php(o)["securityContext"].pop("allowPrivilegeEscalation")),
    (RESTRICTED, "every container sets securityContext.allowPrivilegeEscalation",
     lambda o: o["spec"]["initContainers"][0]["securityContext"].update(allowPrivilegeEscalation=True)),
    (RESTRICTED, "every container runs as non-root", lambda o: o["spec"]["securityContext"].pop("runAsNonRoot")),
    (RESTRICTED, "every container runs as non-root", lambda o: php(o)["securityContext"].update(runAsNonRoot=False)),
    (RESTRICTED, "runAsUser 0", lambda o: php(o)["securityContext"].update(runAsUser=0)),
    (RESTRICTED, "runAsUser 0", lambda o: o["spec"]["securityContext"].update(runAsUser=0)),
    (RESTRICTED, "every container drops ALL", lambda o: php(o)["securityContext"]["capabilities"].update(drop=["NET_RAW"])),
    (RESTRICTED, "only NET_BIND_SERVICE", lambda o: php(o)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"])),
    (RESTRICTED, "hostPort", lambda o: php(o)["ports"][0].update(hostPort=9000)),
    (RESTRICTED, "seccompProfile", lambda o: o["spec"]["securityContext"].pop("seccompProfile")),
    (RESTRICTED, "seccompProfile", lambda o: php(o)["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    (REGISTRIES, "images must come from", lambda o: php(o).update(image="nginx:1.28.0")),
    (REGISTRIES, "images must come from", lambda o: php(o).update(image="docker.io.evil.example/x/y:1")),
    (REGISTRIES, "images must come from", lambda o: o["spec"]["initContainers"][0].update(image="evil.example/x:1")),
    (LATEST, "every image names a tag", lambda o: php(o).update(image="ghcr.io/example/magento")),
    (LATEST, "every image names a tag", lambda o: php(o).update(image="ghcr.io/example/magento:latest")),
    (LIMITS, "every container sets requests and limits", lambda o: php(o).pop("resources")),
    (LIMITS, "every container sets requests and limits", lambda o: php(o)["resources"]["limits"].pop("memory")),
    (LIMITS, "every container sets requests and limits", lambda o: php(o)["resources"]["requests"].pop("cpu")),
    (LIMITS, "every container sets requests and limits", lambda o: o["spec"]["initContainers"][0].pop("resources")),
]

# Compliant variants each rule must admit (the idioms the optional-field expressions have to get right).
ADMITTED: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("as written", lambda o: None),
    ("host namespaces set to false", lambda o: o["spec"].update(hostNetwork=False, hostPID=False, hostIPC=False)),
    ("no init containers and no volumes", lambda o: (o["spec"].pop("initContainers"), o["spec"].pop("volumes"))),
    ("runAsNonRoot on every container, not the pod", lambda o: (
        o["spec"]["securityContext"].pop("runAsNonRoot"),
        [c["securityContext"].update(runAsNonRoot=True) for c in o["spec"]["initContainers"] + o["spec"]["containers"]])),
    ("seccomp Localhost on every container, none on the pod", lambda o: (
        o["spec"]["securityContext"].pop("seccompProfile"),
        [c["securityContext"].update(seccompProfile={"type": "Localhost", "localhostProfile": "php.json"})
         for c in o["spec"]["initContainers"] + o["spec"]["containers"]])),
    ("NET_BIND_SERVICE added", lambda o: php(o)["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"])),
    ("hostPort 0", lambda o: php(o)["ports"][0].update(hostPort=0)),
    ("an image by digest", lambda o: php(o).update(image="ghcr.io/example/magento@sha256:" + "a" * 64)),
    ("a tag on an image of a nested path", lambda o: php(o).update(image="ghcr.io/example/team/magento:2.4.8")),
    ("no pod securityContext user, container non-root user", lambda o: o["spec"]["securityContext"].pop("runAsUser")),
]


@pytest.mark.parametrize(("name", "message", "change"), DENIED, ids=[f"{p}:{m[:30]}:{i}" for i, (p, m, _) in enumerate(DENIED)])
def test_each_rule_denies_the_pod_that_breaks_it(policies, name, message, change):
    (verdict,) = [v for p in policies.values() for v in evaluate_policy(p, pod(change), NAMESPACE)]
    assert verdict.policy == f"ValidatingPolicy {name}" and verdict.denied
    assert verdict.message.startswith(message), verdict.message


@pytest.mark.parametrize(("what", "change"), ADMITTED, ids=[w for w, _ in ADMITTED])
def test_every_policy_admits_a_compliant_pod(policies, what, change):
    assert [v for p in policies.values() for v in evaluate_policy(p, pod(change), NAMESPACE)] == []


def test_every_validation_rule_has_a_denied_case(policies):
    covered = {(name, message) for name, message, _ in DENIED}
    for name, policy in policies.items():
        for text in messages(policy):
            assert any(n == name and text.startswith(m) for n, m in covered), f"{name}: no failing case for {text!r}"


def test_every_expression_of_every_stack_compiles_autogen_included(stack_recording: Recording):
    policies = recorded_policies(stack_recording)
    assert {(p.name, p.autogen) for p in policies} >= {(RESTRICTED, None), (RESTRICTED, "defaults"), (RESTRICTED, "cronjobs")}
    assert len(policies) == 4 * 3
    assert compile_problems(policies) == []


def test_a_typo_or_a_function_kyverno_has_not_is_a_compile_problem():
    spec = {"validations": [{"expression": "object.spec.containers.all(c, c.image.startWith('x'))", "message": "m"},
                            {"expression": "object.spec.?containers.orValue([]).size() >", "message": "m"}]}
    problems = compile_problems([CompiledPolicy("typo", None, spec)])
    assert len(problems) == 2 and all("ValidatingPolicy typo: validations expression does not compile" in p for p in problems)
    with pytest.raises(CelCompileError, match="returns INT, not bool"):
        compile_expression("size([1, 2])")


def test_only_site_namespaces_are_matched(policies):
    bad = pod(lambda o: o["spec"].update(hostNetwork=True))
    bad["metadata"]["namespace"] = "tools"
    assert [v for p in policies.values() for v in evaluate_policy(p, bad, UNLABELLED)] == []
    assert [v for p in policies.values() for v in evaluate_policy(p, bad, None)] == []


def as_deployment(template_pod: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "php-fpm", "namespace": "site-a"},
            "spec": {"selector": {"matchLabels": {"app": "php-fpm"}},
                     "template": {"metadata": template_pod["metadata"], "spec": template_pod["spec"]}}}


def as_cronjob(template_pod: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cron", "namespace": "site-a"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"metadata": {}, "spec": template_pod["spec"]}}}}}


@pytest.mark.parametrize(("wrap", "autogen"), [(as_deployment, "defaults"), (as_cronjob, "cronjobs")])
def test_autogen_denies_a_controller_whose_template_breaks_a_rule(dev: Recording, wrap, autogen):
    every = recorded_policies(dev)
    bad = wrap(pod(lambda o: php(o)["securityContext"].update(privileged=True)))
    verdicts = [v for p in every for v in evaluate_policy(p, bad, NAMESPACE)]
    assert verdicts == [Verdict(f"ValidatingPolicy {RESTRICTED} (autogen {autogen})", "privileged containers are not allowed", True)]
    assert [v for p in every for v in evaluate_policy(p, wrap(pod()), NAMESPACE)] == []


def test_autogen_rewrites_as_kyverno_does():
    """The case "autogen rule for deployments and daemonsets" of kyverno v1.19.0
    pkg/cel/policies/vpol/autogen/autogen_test.go, plus `object.metadata.namespace` left alone."""
    expression = ("object.spec.containers.all(container, has(container.securityContext) && "
                  "has(container.securityContext.allowPrivilegeEscalation) && container.securityContext.allowPrivilegeEscalation == false)")
    spec = {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                                                    "resources": ["pods"]}]},
            "autogen": {"podControllers": {"controllers": ["deployments", "daemonsets"]}},
            "validations": [{"expression": expression}]}
    (_, generated) = autogen_policies("p", spec)
    assert generated.autogen == "defaults"
    assert generated.spec["matchConstraints"] == {"resourceRules": [
        {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["daemonsets", "deployments"], "operations": ["CREATE", "UPDATE"]}]}
    assert generated.spec["validations"][0]["expression"] == expression.replace("object.spec.", "object.spec.template.spec.")
    kept = rewrite({"e": "object.metadata.namespace == 'a' && object.metadata.name == 'b' && oldObject.spec.x"}, "cronjobs")
    assert kept == {"e": "object.metadata.namespace == 'a' && object.spec.jobTemplate.spec.template.metadata.name == 'b'"
                         " && oldObject.spec.jobTemplate.spec.template.spec.x"}


def test_no_autogen_when_the_policy_matches_more_than_pods():
    spec = {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                                    "resources": ["pods", "services"]}]}, "validations": []}
    assert [p.autogen for p in autogen_policies("p", spec)] == [None]


def test_errors_deny_under_failure_policy_fail_and_match_conditions_filter():
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    base = {"validationActions": ["Deny"], "matchConstraints": {"resourceRules": [rule]},
            "validations": [{"expression": "object.spec.nodeName == 'a'", "message": "m"}]}
    (verdict,) = evaluate_policy(CompiledPolicy("p", None, base), pod(), NAMESPACE)
    assert verdict.denied and "nodeName" in verdict.message and "errors" in verdict.message
    (ignored,) = evaluate_policy(CompiledPolicy("p", None, {**base, "failurePolicy": "Ignore"}), pod(), NAMESPACE)
    assert not ignored.denied
    skipped = {**base, "matchConditions": [{"name": "prod", "expression": "object.metadata.?labels.?prod.orValue('') == 'true'"}]}
    assert evaluate_policy(CompiledPolicy("p", None, skipped), pod(), NAMESPACE) == []
    audit = {**base, "validationActions": ["Audit"], "validations": [{"expression": "false", "messageExpression": "'pod ' + object.metadata.name"}]}
    assert evaluate_policy(CompiledPolicy("p", None, audit), pod(), NAMESPACE) == [Verdict("ValidatingPolicy p", "pod php-fpm", False)]


def test_variables_are_bound_in_order_and_a_failed_one_errors_where_used():
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    spec = {"validationActions": ["Deny"], "matchConstraints": {"resourceRules": [rule]},
            "variables": [{"name": "containers", "expression": "object.spec.containers"},
                          {"name": "images", "expression": "variables.containers.map(c, c.image)"},
                          {"name": "broken", "expression": "object.spec.nodeName"}],
            "validations": [{"expression": "variables.images.all(i, i.startsWith('ghcr.io/'))", "message": "ghcr only"}]}
    policy = CompiledPolicy("p", None, spec)
    assert compile_problems([policy]) == []
    assert evaluate_policy(policy, pod(), NAMESPACE) == []
    assert evaluate_policy(policy, pod(lambda o: php(o).update(image="quay.io/x:1")), NAMESPACE) == [Verdict("ValidatingPolicy p", "ghcr only", True)]
    used = {**spec, "validations": [{"expression": "variables.broken == 'a'", "message": "m"}]}
    (verdict,) = evaluate_policy(CompiledPolicy("p", None, used), pod(), NAMESPACE)
    assert verdict.denied and "errors" in verdict.message


def test_a_violation_reported_but_not_denied_is_a_note_not_a_problem(dev: Recording):
    (policy,) = [r for r in dev.kubernetes_objects() if r.inputs.get("kind") == "ValidatingPolicy"
                 and r.inputs["metadata"]["name"] == LATEST]
    audit = dataclasses.replace(policy, inputs={**policy.inputs, "spec": {**policy.inputs["spec"], "validationActions": ["Audit"]}})
    (deployment,) = [r for r in dev.kubernetes_objects() if r.inputs.get("kind") == "Deployment"
                     and r.inputs["metadata"].get("namespace") == "site-demo" and r.inputs["metadata"]["name"] == "php-fpm"]
    inputs = copy.deepcopy(deployment.inputs)
    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/magento:latest"
    swapped = {policy.urn: audit, deployment.urn: dataclasses.replace(deployment, inputs=inputs)}
    result = admission_check(dataclasses.replace(dev, resources=[swapped.get(r.urn, r) for r in dev.resources]))
    assert result["problems"] == []
    assert "1 violation(s) reported, not denied: Deployment site-demo/php-fpm" in result["note"]


def test_optional_idioms_evaluate_as_in_kubernetes():
    data = {"object": {"spec": {"a": {"b": 1}}}}
    assert evaluate("object.spec.?a.?b.orValue(0) == 1 && object.spec.?x.?y.orValue(2) == 2", data).value is True
    assert evaluate("optional.of(object.spec.a).hasValue() && !object.spec.?x.hasValue() && object.spec[?'x'].orValue(3) == 3", data).value
    assert evaluate("object.spec.x == 1", data).error is not None  # a missing field without `?` is an error


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_store_workload_of_both_stacks_is_admitted(stack: str, dev: Recording, prod: Recording):
    recording = {"dev": dev, "prod": prod}[stack]
    sites = {r.inputs["metadata"]["name"] for r in recording.kubernetes_objects()
             if r.inputs.get("kind") == "Namespace" and "magento.io/site" in (r.inputs["metadata"].get("labels") or {})}
    workloads = [r for r in recording.kubernetes_objects() if r.inputs.get("kind") in {"Pod", "Deployment", "StatefulSet", "DaemonSet",
                 "ReplicaSet", "Job", "CronJob"} and r.inputs["metadata"].get("namespace") in sites]
    result = admission_check(recording)
    assert result["problems"] == []
    assert result["checked"] == len(workloads) > 0


def test_a_gitops_store_rendered_for_argo_cd_is_admitted_too():
    recording = run_program(settings_from_values(gitops_values(), stack="dev"))
    rendered = [r for r in recording.kubernetes_objects() if r.inputs["metadata"].get("namespace") == "site-demo"
                and r.inputs.get("kind") in {"Deployment", "StatefulSet", "Job", "CronJob"}]
    assert rendered and all(r.provider and "gitops-demo" in r.provider for r in rendered)
    result = admission_check(recording)
    assert result["problems"] == []
    assert result["checked"] >= 2 * len(rendered)  # the direct store `shop` has as many


def test_a_chart_rendered_workload_in_a_site_namespace_is_evaluated_too(dev: Recording):
    rendered = next(r for r in dev.rendered_objects() if r.inputs.get("kind") == "Deployment" and r.inputs["metadata"]["name"] == "keda-operator")
    inputs = copy.deepcopy(rendered.inputs)
    inputs["metadata"]["namespace"] = "site-demo"
    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/kedacore/keda"  # no tag
    moved = dataclasses.replace(dev, resources=[dataclasses.replace(r, inputs=inputs) if r is rendered else r for r in dev.resources])
    result = admission_check(moved)
    assert result["checked"] == admission_check(dev)["checked"] + 1
    assert any(p.startswith("Deployment site-demo/keda-operator") and "site-no-latest-tag" in p for p in result["problems"])


def test_the_plan_check_names_the_policy_the_message_and_the_object(dev: Recording):
    (deployment,) = [r for r in dev.kubernetes_objects() if r.inputs.get("kind") == "Deployment"
                     and r.inputs["metadata"].get("namespace") == "site-demo" and r.inputs["metadata"]["name"] == "php-fpm"]
    inputs = copy.deepcopy(deployment.inputs)
    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/magento:latest"
    broken = dataclasses.replace(dev, resources=[dataclasses.replace(r, inputs=inputs) if r is deployment else r for r in dev.resources])
    (problem,) = admission_check(broken)["problems"]
    assert problem.startswith("Deployment site-demo/php-fpm (")
    assert "denied by ValidatingPolicy site-no-latest-tag (autogen defaults): every image names a tag other than latest" in problem
