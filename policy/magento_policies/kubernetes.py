"""Cluster-object policies: namespaces, site isolation, disruption budgets, load balancers."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import defaults
from .common import config_value, excepted, get, is_list, is_mapping, object_ref, schema, string_list

NAMESPACE = "kubernetes:core/v1:Namespace"
PSA_LEVELS = ("restricted", "baseline", "privileged")
PSA = "pod-security.kubernetes.io/"


def _namespaces_policy() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != NAMESPACE:
            return
        ref = object_ref(args.props, args.urn)
        config = args.get_config() or {}
        if excepted(ref, config, "namespace-pod-security") is not None:
            return
        system = config_value(config, "systemNamespaces", defaults.SYSTEM_NAMESPACES)
        prefix = config_value(config, "siteNamespacePrefix", defaults.SITE_NAMESPACE_PREFIX)
        for mode in ("enforce", "audit", "warn"):
            level = ref.labels.get(PSA + mode)
            if level not in PSA_LEVELS:
                report_violation(f"Namespace {ref.name} has no valid label {PSA}{mode} (one of {', '.join(PSA_LEVELS)})", None)
        enforce = ref.labels.get(PSA + "enforce")
        if enforce == "privileged" and ref.name not in system:
            report_violation(f"Namespace {ref.name} enforces 'privileged' but is not a reviewed system namespace", None)
        if ref.name.startswith(prefix) and enforce != "restricted":
            report_violation(f"site Namespace {ref.name} must enforce 'restricted', not {enforce!r}", None)

    return ResourceValidationPolicy(
        name="namespace-pod-security",
        description="Namespaces carry Pod Security Admission labels (enforce, audit, warn); site namespaces enforce "
        "'restricted' and only reviewed system namespaces may be 'privileged'.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema(
            "namespace-pod-security",
            {
                "systemNamespaces": {
                    "type": "object",
                    "default": defaults.SYSTEM_NAMESPACES,
                    "description": "namespace -> reason",
                },
                "siteNamespacePrefix": {"type": "string", "default": defaults.SITE_NAMESPACE_PREFIX},
            },
        ),
        remediation_steps="Create namespaces with components.k8s.namespace(..., level=...), which sets the labels.",
    )


def _load_balancer_policy() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != "kubernetes:core/v1:Service" or get(args.props, "spec", "type") != "LoadBalancer":
            return
        ref = object_ref(args.props, args.urn)
        config = args.get_config() or {}
        edge = config_value(config, "edgeNamespaces", defaults.EDGE_NAMESPACES)
        if ref.namespace not in edge and excepted(ref, config, "loadbalancer-only-at-edge") is None:
            report_violation(f"{ref} is a LoadBalancer outside the edge namespaces ({', '.join(edge)})", None)

    return ResourceValidationPolicy(
        name="loadbalancer-only-at-edge",
        description="Services of type LoadBalancer exist only in the edge namespaces: traffic enters through the shared Gateway and the WAF.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema(
            "loadbalancer-only-at-edge",
            {"edgeNamespaces": string_list(defaults.EDGE_NAMESPACES, "namespaces where LoadBalancer Services may exist")},
        ),
        remediation_steps="Use a ClusterIP Service behind an HTTPRoute on the shared Gateway.",
    )


# ------------------------------------------------------------------------------------------ stack relations


def _by_type(resources: list[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _in_namespace(resources: list[PolicyResource], type_token: str, namespace: str) -> list[PolicyResource]:
    return [r for r in _by_type(resources, type_token) if get(r.props, "metadata", "namespace") == namespace]


def _is_default_deny(policy: PolicyResource) -> bool:
    spec = get(policy.props, "spec", default={})
    selector = get(spec, "podSelector", default={})
    types = get(spec, "policyTypes", default=[])
    return (
        is_mapping(selector)
        and not get(selector, "matchLabels")
        and not get(selector, "matchExpressions")
        and {"Ingress", "Egress"} <= {str(t) for t in (types if is_list(types) else [])}
        and not get(spec, "ingress")
        and not get(spec, "egress")
    )


def _site_isolation_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        prefix = config_value(args.get_config(), "siteNamespacePrefix", defaults.SITE_NAMESPACE_PREFIX)
        for namespace in _by_type(args.resources, NAMESPACE):
            name = get(namespace.props, "metadata", "name")
            if not isinstance(name, str) or not name.startswith(prefix):
                continue
            if not any(
                _is_default_deny(p) for p in _in_namespace(args.resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy", name)
            ):
                report_violation(
                    f"site Namespace {name} has no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)",
                    namespace.urn,
                )
            quotas = _in_namespace(args.resources, "kubernetes:core/v1:ResourceQuota", name)
            hard_keys = {str(k) for q in quotas for k in (get(q.props, "spec", "hard", default={}) or {})}
            if not any(k.endswith("cpu") for k in hard_keys) or not any(k.endswith("memory") for k in hard_keys):
                report_violation(f"site Namespace {name} has no ResourceQuota bounding cpu and memory", namespace.urn)

    return StackValidationPolicy(
        name="site-namespace-isolation",
        description="Every site namespace has a default-deny NetworkPolicy (ingress and egress) and a ResourceQuota on cpu and memory.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema(
            "site-namespace-isolation",
            exceptions=False,
            properties={"siteNamespacePrefix": {"type": "string", "default": defaults.SITE_NAMESPACE_PREFIX}},
        ),
        remediation_steps="Build site namespaces with sites.tenancy.SiteTenancy, which creates both.",
    )


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A Kubernetes label selector against a set of labels (an empty selector matches everything)."""
    if not is_mapping(selector):
        return False
    match_labels = get(selector, "matchLabels", default={})
    if any(labels.get(k) != v for k, v in (match_labels.items() if is_mapping(match_labels) else [])):
        return False
    expressions = get(selector, "matchExpressions", default=[])
    for expression in expressions if is_list(expressions) else []:
        key, operator = get(expression, "key"), get(expression, "operator")
        values = list(get(expression, "values", default=[]))
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels.get(key) in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


SCALERS = {
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("spec", "scaleTargetRef", "spec", "minReplicas"),
    "kubernetes:keda.sh/v1alpha1:ScaledObject": ("spec", "scaleTargetRef", "spec", "minReplicaCount"),
}


def autoscaler_minimums(resources: list[PolicyResource]) -> dict[tuple[Any, Any, Any], int | float]:
    """(namespace, target name, target kind) -> the minimum of the first HPA or ScaledObject among `resources`
    that targets it. Built once per check: a search of every autoscaler per workload grows with the square of
    the number of stores (each adds workloads and autoscalers)."""
    minimums: dict[tuple[Any, Any, Any], int | float] = {}
    for scaler in _by_type(resources, *SCALERS):
        spec_key, target_key, _, min_key = SCALERS[scaler.resource_type]
        target = get(scaler.props, spec_key, target_key, default={})
        key = (get(scaler.props, "metadata", "namespace"), get(target, "name"), get(target, "kind", default="Deployment"))
        minimum = get(scaler.props, spec_key, min_key, default=1)
        with contextlib.suppress(TypeError):  # an unhashable (malformed) target matches no workload
            minimums.setdefault(key, minimum if isinstance(minimum, int | float) else 1)
    return minimums


def minimum_replicas(workload: PolicyResource, minimums: Mapping[tuple[Any, Any, Any], int | float]) -> int | float:
    """The fewest replicas a Deployment/StatefulSet runs: its autoscaler's minimum (`autoscaler_minimums`), else
    spec.replicas."""
    meta = get(workload.props, "metadata", default={})
    key = (get(meta, "namespace"), get(meta, "name"), get(workload.props, "kind"))
    with contextlib.suppress(TypeError):
        if key in minimums:
            return minimums[key]
    replicas = get(workload.props, "spec", "replicas")
    return replicas if isinstance(replicas, int | float) else 1


def _pdb_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        budgets: dict[Any, list[PolicyResource]] = {}  # by namespace: a workload is only matched against its own
        for budget in _by_type(args.resources, "kubernetes:policy/v1:PodDisruptionBudget"):
            with contextlib.suppress(TypeError):
                budgets.setdefault(get(budget.props, "metadata", "namespace"), []).append(budget)
        minimums = autoscaler_minimums(args.resources)
        for workload in _by_type(args.resources, "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
            ref = object_ref(workload.props, workload.urn)
            if excepted(ref, args.get_config(), "workload-pdb") is not None:
                continue
            if minimum_replicas(workload, minimums) <= 1:
                continue
            labels = get(workload.props, "spec", "template", "metadata", "labels", default={})
            if not any(
                selector_matches(get(b.props, "spec", "selector"), labels if is_mapping(labels) else {})
                for b in budgets.get(ref.namespace, [])
            ):
                report_violation(f"{ref} runs more than one replica but no PodDisruptionBudget selects its pods", workload.urn)

    return StackValidationPolicy(
        name="workload-pdb",
        description="Each Deployment and StatefulSet (chart-rendered ones included) with more than one replica (or "
        "autoscaler minimum) has a PodDisruptionBudget selecting its pods, so node drains (kured, upgrades) keep it available.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema("workload-pdb"),
        remediation_steps="Add a policy/v1 PodDisruptionBudget (maxUnavailable: 1) whose selector matches the pod template labels.",
    )


SPREAD_KEYS = frozenset({"kubernetes.io/hostname", "topology.kubernetes.io/zone"})


def spreads(pod_spec: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a pod spec keeps its replicas apart: a topology spread constraint or a pod anti-affinity term over
    hosts or zones whose selector matches the pods' own labels."""
    constraints = get(pod_spec, "topologySpreadConstraints", default=[])
    for constraint in constraints if is_list(constraints) else []:
        if get(constraint, "topologyKey") in SPREAD_KEYS and selector_matches(get(constraint, "labelSelector"), labels):
            return True
    anti = get(pod_spec, "affinity", "podAntiAffinity", default={})
    terms = list(get(anti, "requiredDuringSchedulingIgnoredDuringExecution", default=[]) or [])
    terms += [get(t, "podAffinityTerm", default={}) for t in get(anti, "preferredDuringSchedulingIgnoredDuringExecution", default=[]) or []]
    return any(get(t, "topologyKey") in SPREAD_KEYS and selector_matches(get(t, "labelSelector"), labels) for t in terms)


def _spread_policy() -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        minimums = autoscaler_minimums(args.resources)
        for workload in _by_type(args.resources, "kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
            ref = object_ref(workload.props, workload.urn)
            if excepted(ref, args.get_config(), "workload-spread") is not None or minimum_replicas(workload, minimums) <= 1:
                continue
            labels = get(workload.props, "spec", "template", "metadata", "labels", default={})
            pod = get(workload.props, "spec", "template", "spec", default={})
            if not spreads(pod, labels if is_mapping(labels) else {}):
                report_violation(
                    f"{ref} runs more than one replica but nothing keeps them on different hosts or zones "
                    "(topologySpreadConstraints or podAntiAffinity over kubernetes.io/hostname or topology.kubernetes.io/zone)",
                    workload.urn,
                )

    return StackValidationPolicy(
        name="workload-spread",
        description="Each Deployment and StatefulSet (chart-rendered ones included) with more than one replica spreads them "
        "over hosts or failure domains, so that one server failing never takes every replica.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema("workload-spread"),
        remediation_steps="Use components.placement.spread_constraints() (or anti_affinity()) in the pod template or the chart's values.",
    )


POLICIES = [
    _namespaces_policy(),
    _spread_policy(),
    _site_isolation_policy(),
    _pdb_policy(),
    _load_balancer_policy(),
]
