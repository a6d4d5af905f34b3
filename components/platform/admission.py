"""Kyverno and the admission policies (`policies.kyverno.io/v1` ValidatingPolicy) for the site namespaces.

Four policies, each matching Pods (Kyverno's autogen extends them to Deployments, StatefulSets, Jobs and
CronJobs) in every namespace labelled `magento.io/site`, each denying on violation:

* `site-restricted-pod-security`: the restricted Pod Security profile's controls (non-root, no privilege
  escalation, every capability dropped but NET_BIND_SERVICE, RuntimeDefault/Localhost seccomp, no host
  namespaces, ports or paths, no privileged container). The namespace's Pod Security Admission labels
  enforce the same profile; this policy makes it an admission report and holds if a label is removed.
* `site-allowed-registries`: every image comes from `platform.allowedRegistries` (plus Harbor's name).
* `site-no-latest-tag`: every image carries a tag other than `latest`, or a digest.
* `site-require-limits`: every container sets CPU and memory requests and limits.

The plan's `admission` check (offline/admission_check.py) compiles and evaluates these expressions with a real
CEL evaluator on every object they match, autogen included; tests/test_admission_cel.py has a failing and a
passing pod per rule.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import StackConfig
from components.placement import replicas, spread_constraints
from components.platform.common import service_namespace

KYVERNO_NAMESPACE = "kyverno"
SITE_SELECTOR = {"matchExpressions": [{"key": "magento.io/site", "operator": "Exists"}]}
ALL_CONTAINERS = "object.spec.containers + object.spec.?initContainers.orValue([]) + object.spec.?ephemeralContainers.orValue([])"
KYVERNO_TAG = "v1.19.0"


def allowed_registries(config: StackConfig) -> list[str]:
    registries = list(config.platform.allowed_registries)
    if config.platform.registry.hostname and config.platform.registry.hostname not in registries:
        registries.append(config.platform.registry.hostname)
    return registries


def _cel_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def policy_rules(config: StackConfig) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Policy name -> (description, CEL validations). Each validation names the rule it checks."""
    registries = _cel_list([f"{r}/" for r in allowed_registries(config)])
    restricted = [
        {"expression": "!has(object.spec.hostNetwork) || object.spec.hostNetwork == false", "message": "hostNetwork is not allowed"},
        {"expression": "!has(object.spec.hostPID) || object.spec.hostPID == false", "message": "hostPID is not allowed"},
        {"expression": "!has(object.spec.hostIPC) || object.spec.hostIPC == false", "message": "hostIPC is not allowed"},
        {"expression": "object.spec.?volumes.orValue([]).all(v, !has(v.hostPath))", "message": "hostPath volumes are not allowed"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?privileged.orValue(false) == false)",
         "message": "privileged containers are not allowed"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?allowPrivilegeEscalation.orValue(true) == false)",
         "message": "every container sets securityContext.allowPrivilegeEscalation: false"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?runAsNonRoot.orValue("
                       "object.spec.?securityContext.?runAsNonRoot.orValue(false)) == true)",
         "message": "every container runs as non-root (runAsNonRoot: true on the pod or the container)"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?runAsUser.orValue(object.spec.?securityContext.?runAsUser.orValue(1)) != 0)",
         "message": "runAsUser 0 is not allowed"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?capabilities.?drop.orValue([]).exists(d, d == 'ALL'))",
         "message": "every container drops ALL capabilities"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?capabilities.?add.orValue([]).all(a, a == 'NET_BIND_SERVICE'))",
         "message": "only NET_BIND_SERVICE may be added"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0))",
         "message": "hostPort is not allowed"},
        {"expression": f"({ALL_CONTAINERS}).all(c, c.?securityContext.?seccompProfile.?type.orValue("
                       "object.spec.?securityContext.?seccompProfile.?type.orValue('')) in ['RuntimeDefault', 'Localhost'])",
         "message": "seccompProfile RuntimeDefault or Localhost on the pod or every container"},
    ]
    return {
        "site-restricted-pod-security": ("restricted Pod Security profile in site namespaces", restricted),
        "site-allowed-registries": ("images only from the configured registries", [
            {"expression": f"({ALL_CONTAINERS}).all(c, {registries}.exists(r, c.image.startsWith(r)))",
             "message": "images must come from: " + ", ".join(allowed_registries(config)) + " (fully qualified)"},
        ]),
        "site-no-latest-tag": ("no latest or missing tags", [
            {"expression": f"({ALL_CONTAINERS}).all(c, c.image.contains('@sha256:') || "
                           "(c.image.split('/')[c.image.split('/').size() - 1].contains(':') && !c.image.endsWith(':latest')))",
             "message": "every image names a tag other than latest, or a digest"},
        ]),
        "site-require-limits": ("CPU and memory requests and limits on every container", [
            {"expression": "(object.spec.containers + object.spec.?initContainers.orValue([])).all(c, "
                           "has(c.resources) && has(c.resources.limits) && 'cpu' in c.resources.limits && 'memory' in c.resources.limits"
                           " && has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests)",
             "message": "every container sets requests and limits for cpu and memory"},
        ]),
    }


def validating_policy(name: str, description: str, validations: list[dict[str, str]], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        f"kyverno-{name}",
        api_version="policies.kyverno.io/v1",
        kind="ValidatingPolicy",
        metadata={"name": name, "labels": kube.labels("admission"), "annotations": {"policies.kyverno.io/description": description}},
        spec={
            "validationActions": ["Deny"],
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": SITE_SELECTOR,
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}],
            },
            "validations": validations,
            "evaluation": {"background": {"enabled": True}},
        },
        opts=opts,
    )


def kyverno_values(config: StackConfig, domains: int) -> dict[str, Any]:
    sizes = config.platform.admission
    # Two admission controllers, in two failure domains: the witness (a third domain) is tainted for workloads.
    count = replicas(domains)

    def controller(name: str, resources: dict[str, Any], count: int) -> dict[str, Any]:
        labels = {"app.kubernetes.io/component": name, "app.kubernetes.io/instance": "kyverno"}
        return {
            "replicas": count,
            # The chart refuses minAvailable and maxUnavailable together: minAvailable = replicas - 1 lets one go.
            "podDisruptionBudget": {"enabled": count > 1, "minAvailable": max(count - 1, 1)},
            "topologySpreadConstraints": spread_constraints(labels, domains),
            "resources": resources,
        }

    admission = controller("admission-controller", {}, count)
    admission.pop("resources")
    admission["container"] = {"resources": sizes.kyverno.as_k8s()}
    small = sizes.kyverno_controllers.as_k8s()
    return {
        "admissionController": admission,
        "backgroundController": controller("background-controller", small, count),
        "cleanupController": controller("cleanup-controller", small, count),
        "reportsController": controller("reports-controller", small, count),
        # Hook Jobs (never run by helm.v4.Chart) still name a pinned tag, not the chart's `latest` default.
        "webhooksCleanup": {"enabled": False, "image": {"tag": KYVERNO_TAG}},
        "test": {"image": {"tag": KYVERNO_TAG}},
        "features": {"policyExceptions": {"enabled": False}},
        # The CRD migration is a post-upgrade hook (never run by helm.v4.Chart): docs/platform.md says when to run it.
        "crds": {"migration": {"enabled": False}},
        # Kyverno's images are published on ghcr.io as well as reg.kyverno.io (the chart's default, which
        # platform.allowedRegistries does not list); the chart's own readiness-checker default is ghcr.io/kyverno.
        "global": {"image": {"registry": "ghcr.io"}},  # no namespace may exempt itself from the site policies
    }


class Admission(pulumi.ComponentResource):
    """Kyverno and the site-namespace ValidatingPolicies."""

    def __init__(self, name: str, config: StackConfig, domains: int, opts: pulumi.ResourceOptions):
        super().__init__("magento:platform:Admission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = service_namespace(KYVERNO_NAMESPACE, "baseline", "admission", child)
        self.chart = kube.chart("kyverno", "kyverno", namespace=KYVERNO_NAMESPACE, values=kyverno_values(config, domains),
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]))
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.chart])
        self.policies = [validating_policy(name, description, rules, after) for name, (description, rules) in policy_rules(config).items()]
        self.register_outputs({"policies": list(policy_rules(config))})
