"""Workload policies: each rule with violating and compliant workloads, and the scoping of chart objects."""

from __future__ import annotations

import copy

import pulumi_kubernetes as k8s
import pytest

from components import k8s as kube
from offline.schemas import validate_object
from tests.conftest import recording_for
from tests.policy_support import (
    SITE_NS,
    compliant_container,
    deployment,
    deployment_manifest,
    evaluate,
    messages,
    of_policy,
    pod_template,
    rendered_by_chart,
)

WORKLOAD_POLICIES = (
    "workload-no-host-access",
    "workload-restricted-security-context",
    "workload-read-only-root-filesystem",
    "workload-resources",
    "workload-probes",
    "workload-image-pinned",
    "workload-image-registry",
)


def test_compliant_deployment_passes_every_policy_and_is_schema_valid():
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", **deployment_manifest()}
    assert validate_object(manifest) == []
    report = evaluate(lambda: deployment())
    assert report.violations == []


# (policy, container overrides, pod-spec overrides, expected message fragment)
VIOLATIONS = [
    ("workload-no-host-access", {"securityContext": {"privileged": True}}, {}, "container 'web' is privileged"),
    ("workload-no-host-access", {}, {"hostNetwork": True}, "uses hostNetwork"),
    ("workload-no-host-access", {}, {"hostPID": True}, "uses hostPID"),
    ("workload-no-host-access", {}, {"hostIPC": True}, "uses hostIPC"),
    ("workload-no-host-access", {}, {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath volume 'root'"),
    ("workload-no-host-access", {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, {}, "adds capabilities SYS_ADMIN"),
    ("workload-no-host-access", {"ports": [{"containerPort": 80, "hostPort": 80}]}, {}, "binds hostPort 80"),
    ("workload-restricted-security-context", {"securityContext": {"runAsNonRoot": None}}, {}, "does not set runAsNonRoot: true"),
    ("workload-restricted-security-context", {"securityContext": {"runAsUser": 0}}, {}, "runs as user 0"),
    (
        "workload-restricted-security-context",
        {"securityContext": {"allowPrivilegeEscalation": None}},
        {},
        "allowPrivilegeEscalation: false",
    ),
    (
        "workload-restricted-security-context",
        {"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
        {},
        "does not drop ALL",
    ),
    (
        "workload-restricted-security-context",
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        {},
        "no seccompProfile",
    ),
    (
        "workload-read-only-root-filesystem",
        {"securityContext": {"readOnlyRootFilesystem": False}},
        {},
        "readOnlyRootFilesystem: true",
    ),
    ("workload-resources", {"resources": {"limits": {"cpu": None}}}, {}, "has no limits.cpu"),
    ("workload-resources", {"resources": None}, {}, "requests.cpu, requests.memory, limits.cpu, limits.memory"),
    ("workload-probes", {"livenessProbe": None}, {}, "has no livenessProbe"),
    ("workload-probes", {"readinessProbe": None}, {}, "serves ports but has no readinessProbe"),
    ("workload-image-pinned", {"image": "ghcr.io/example/magento-shop"}, {}, "has no tag"),
    ("workload-image-pinned", {"image": "ghcr.io/example/magento-shop:latest"}, {}, "uses the tag 'latest'"),
    ("workload-image-registry", {"image": "registry.example.net/shop:1.0"}, {}, "is from registry.example.net"),
    ("workload-image-registry", {"image": "docker.io/bitnami/redis:7.4.1"}, {}, "is a Bitnami image"),
    ("workload-image-registry", {"image": "bitnamilegacy/redis:7.4.1"}, {}, "is a Bitnami image"),
]


@pytest.mark.parametrize(("policy", "container", "pod", "fragment"), VIOLATIONS, ids=[f"{v[0]}:{v[3]}" for v in VIOLATIONS])
def test_each_rule_reports_the_violating_workload(policy, container, pod, fragment):
    report = evaluate(lambda: deployment(container=compliant_container(**container), **pod))
    found = of_policy(report, policy)
    assert found, f"{policy} did not fire"
    assert all(v.level == "mandatory" and v.resource_name == f"{SITE_NS}-web" for v in found)
    assert fragment in messages(report, policy)
    assert "Deployment site-demo/web" in messages(report, policy)
    # the mutation trips only the policy it is about
    assert {v.policy for v in report.violations} == {policy}


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/example/shop@sha256:" + "a" * 64, "velero/velero:v1.18.2", "nginx:1.28.0", "registry.k8s.io/pause:3.10.1"],
)
def test_pinned_images_from_allowed_registries_pass(image):
    report = evaluate(lambda: deployment(container=compliant_container(image=image)))
    assert of_policy(report, "workload-image-pinned") == []
    assert of_policy(report, "workload-image-registry") == []


def test_allowed_registries_come_from_configuration():
    program = lambda: deployment(container=compliant_container(image="harbor.example.com/proxy/shop:1.0"))  # noqa: E731
    assert of_policy(evaluate(program), "workload-image-registry")
    configured = evaluate(program, config={"workload-image-registry": {"allowedRegistries": ["harbor.example.com/proxy"]}})
    assert of_policy(configured, "workload-image-registry") == []


def test_pod_level_security_context_satisfies_the_restricted_profile():
    container = compliant_container(securityContext={"runAsNonRoot": None, "seccompProfile": None})
    report = evaluate(
        lambda: deployment(
            container=container,
            securityContext={"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        )
    )
    assert of_policy(report, "workload-restricted-security-context") == []


def test_every_workload_kind_is_checked():
    bad = compliant_container(securityContext={"privileged": True})

    def program():
        meta = lambda name: {"name": name, "namespace": SITE_NS, "labels": {"app": name}}  # noqa: E731
        tpl = pod_template(bad, labels={"app": "x"})
        job_tpl = pod_template(bad, labels={"app": "x"}, restartPolicy="Never")
        k8s.apps.v1.StatefulSet(
            "sts", metadata=meta("sts"), spec={"serviceName": "sts", "selector": {"matchLabels": {"app": "x"}}, "template": tpl}
        )
        k8s.apps.v1.DaemonSet("ds", metadata=meta("ds"), spec={"selector": {"matchLabels": {"app": "x"}}, "template": tpl})
        k8s.batch.v1.Job("job", metadata=meta("job"), spec={"template": job_tpl})
        k8s.batch.v1.CronJob(
            "cron", metadata=meta("cron"), spec={"schedule": "* * * * *", "jobTemplate": {"spec": {"template": job_tpl}}}
        )
        k8s.core.v1.Pod("pod", metadata=meta("pod"), spec=tpl["spec"])

    report = evaluate(program)
    assert {v.resource_name for v in of_policy(report, "workload-no-host-access")} == {"sts", "ds", "job", "cron", "pod"}


def test_jobs_and_plain_init_containers_need_no_probes_but_sidecars_do():
    no_probes = compliant_container(livenessProbe=None, readinessProbe=None, ports=None)

    def program():
        k8s.batch.v1.Job(
            "migrate",
            metadata={"name": "migrate", "namespace": SITE_NS},
            spec={"template": pod_template(no_probes, restartPolicy="Never")},
        )
        deployment("plain-init", initContainers=[dict(no_probes, name="init")])
        deployment("sidecar", initContainers=[dict(no_probes, name="proxy", restartPolicy="Always")])

    report = evaluate(program)
    assert [
        (v.resource_name, "init container 'proxy' has no livenessProbe" in v.message)
        for v in of_policy(report, "workload-probes")
    ] == [(f"{SITE_NS}-sidecar", True)]


def test_init_containers_need_resources_too():
    report = evaluate(lambda: deployment(initContainers=[compliant_container(name="init", resources=None)]))
    assert "init container 'init' has no requests.cpu" in messages(report, "workload-resources")


# ------------------------------------------------------------------------------------------ scoping


def rendered_object(chart: str, kind: str, name: str) -> dict:
    """An object exactly as the chart renders it for prod (offline/render.py), as a fresh copy."""
    found = [r.inputs for r in recording_for("prod").rendered_objects()
             if r.name.startswith(f"{chart}:") and r.inputs["kind"] == kind and r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"{chart} renders {len(found)} {kind} {name}"
    return copy.deepcopy(found[0])


def register_rendered(chart: str, obj: dict, namespace: str | None = None) -> None:
    """Register a rendered object as the provider does (a child of its Chart), optionally moved to `namespace`."""
    obj = copy.deepcopy(obj)
    if namespace:
        obj["metadata"]["namespace"] = namespace
    meta = obj["metadata"]
    kube.custom_object(
        f"{chart}:{meta['namespace']}/{meta['name']}", obj["apiVersion"], obj["kind"], metadata=meta,
        fields={k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}, opts=rendered_by_chart(chart),
    )


def test_chart_agents_in_reviewed_system_namespaces_pass():
    agent = rendered_object("cilium", "DaemonSet", "cilium")
    report = evaluate(lambda: register_rendered("cilium", agent))
    assert report.violations == [], "\n".join(map(str, report.violations))


def test_the_same_chart_agent_outside_system_namespaces_fails():
    agent = rendered_object("cilium", "DaemonSet", "cilium")
    report = evaluate(lambda: register_rendered("cilium", agent, "monitoring"))
    host = messages(report, "workload-no-host-access")
    assert "DaemonSet monitoring/cilium" in host and "is privileged" in host and "uses hostNetwork" in host
    assert of_policy(report, "workload-restricted-security-context")
    # the read-only root is our own workloads' rule; a chart's containers are held to the rest
    assert "workload-read-only-root-filesystem" not in {v.policy for v in report.violations}


def test_chart_objects_in_a_site_namespace_are_held_to_every_rule():
    agent = rendered_object("cilium", "DaemonSet", "cilium")
    report = evaluate(lambda: register_rendered("cilium", agent, SITE_NS))
    assert {
        "workload-no-host-access",
        "workload-restricted-security-context",
        "workload-read-only-root-filesystem",
    } <= {v.policy for v in report.violations}


def test_chart_deployment_without_limits_or_probes_fails_resources_and_probes():
    controller = rendered_object("cert-manager", "Deployment", "cert-manager-webhook")
    container = controller["spec"]["template"]["spec"]["containers"][0]
    del container["resources"], container["livenessProbe"], container["readinessProbe"]
    controller["spec"]["replicas"] = 1  # alone (no PodDisruptionBudget needed): only sizing and probes are at stake
    report = evaluate(lambda: register_rendered("cert-manager", controller))
    assert {v.policy for v in report.violations} == {"workload-resources", "workload-probes"}
    assert "container 'cert-manager-webhook' has no requests.cpu" in messages(report, "workload-resources")


def test_chart_images_must_still_be_pinned_even_in_system_namespaces():
    container = compliant_container(image="quay.io/cilium/cilium:latest")
    manifest = deployment_manifest("operator", "kube-system", container=container, labels={"app": "op"})
    report = evaluate(
        lambda: k8s.apps.v1.Deployment(
            "op", metadata=manifest["metadata"], spec=manifest["spec"], opts=rendered_by_chart("cilium")
        )
    )
    assert [v.policy for v in report.violations] == ["workload-image-pinned"]


def test_our_own_workloads_outside_site_namespaces_are_checked():
    report = evaluate(lambda: deployment("waf", "edge", container=compliant_container(resources=None)))
    assert of_policy(report, "workload-resources")


def test_reviewed_exception_covers_only_the_named_workload():
    exception = {
        "exceptions": [
            {"namespace": SITE_NS, "name": "legacy", "kind": "Deployment", "reason": "vendor image needs root until 2027-01"}
        ]
    }

    def program():
        deployment("legacy", container=compliant_container(securityContext={"runAsUser": 0}))
        deployment("other", container=compliant_container(securityContext={"runAsUser": 0}))

    report = evaluate(program, config={"workload-restricted-security-context": exception})
    assert {v.resource_name for v in of_policy(report, "workload-restricted-security-context")} == {f"{SITE_NS}-other"}


def test_system_namespaces_are_configuration():
    report = evaluate(
        lambda: register_rendered("cilium", rendered_object("cilium", "DaemonSet", "cilium")),
        config={"workload-no-host-access": {"systemNamespaces": {"openebs": "LocalPV-ZFS node plugin"}}},
    )
    assert of_policy(report, "workload-no-host-access")


def test_reviewed_exceptions_table_applies_without_any_configuration(monkeypatch):
    from policy.magento_policies import defaults

    program = lambda: deployment("importer", container=compliant_container(securityContext={"readOnlyRootFilesystem": False}))  # noqa: E731
    assert of_policy(evaluate(program), "workload-read-only-root-filesystem")
    monkeypatch.setitem(
        defaults.REVIEWED_EXCEPTIONS,
        "workload-read-only-root-filesystem",
        [{"namespace": "site-*", "name": "importer", "reason": "vendor importer writes to /tmp; reviewed"}],
    )
    assert of_policy(evaluate(program), "workload-read-only-root-filesystem") == []


# What a real `pulumi preview` of prod sees from the networking, storage and edge charts: their rendered
# host agents, in their reviewed system namespaces, and the same objects moved elsewhere.
HOST_AGENTS = [("metallb", "DaemonSet", "metallb-speaker"), ("zfs-localpv", "DaemonSet", "zfs-localpv-node"),
               ("cilium", "DaemonSet", "cilium"), ("cilium", "DaemonSet", "cilium-envoy")]


def register_chart_children(namespace_override: str | None = None) -> None:
    for chart, kind, name in HOST_AGENTS:
        register_rendered(chart, rendered_object(chart, kind, name), namespace_override)


def test_networking_storage_and_edge_chart_objects_pass_in_their_namespaces():
    report = evaluate(register_chart_children)
    assert report.violations == [], "\n".join(map(str, report.violations))


def test_the_same_chart_objects_fail_when_moved_out_of_their_reviewed_namespaces():
    report = evaluate(lambda: register_chart_children("tools"))
    host = {v.resource_name for v in of_policy(report, "workload-no-host-access")}
    assert host == {"metallb:tools/metallb-speaker", "zfs-localpv:tools/zfs-localpv-node", "cilium:tools/cilium", "cilium:tools/cilium-envoy"}
