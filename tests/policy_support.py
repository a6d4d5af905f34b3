"""Building blocks for the policy tests: small programs run under the mock engine, then the offline check.

Every test goes through `offline.policy_check.check_recording`, i.e. the pack's SDK analyzer, exactly
as `make plan` does. Objects are built with the real pulumi-kubernetes / pulumi-aws / pulumi-command
classes so that they reach the policies in wire format.

`rendered_by_chart()` reproduces what the real engine does with a `helm.v4.Chart`: each rendered object
is registered as a child of the Chart component, so its URN's type chain holds
`kubernetes:helm.sh/v4:Chart$...`. Under mocks a chart renders nothing, so the tests register
chart-like objects under a component of that type themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from offline.engine import Recording, run_program
from offline.policy_check import PolicyReport, Violation, check_recording
from offline.stackfile import load_stack

SITE_NS = "site-demo"
OWN_LABELS = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "magento-platform", "app": "web"}


def compliant_container(**overrides: Any) -> dict[str, Any]:
    """A container that satisfies every workload policy; `overrides` are merged in (None deletes a key)."""
    container: dict[str, Any] = {
        "name": "web",
        "image": "ghcr.io/example/magento-shop:2.4.8-p3",
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "ports": [{"containerPort": 8080, "name": "http"}],
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}},
    }
    return merge(container, overrides)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def pod_template(container: dict[str, Any] | None = None, labels: dict[str, str] | None = None, **pod: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or OWN_LABELS},
        "spec": {"containers": [container or compliant_container()], **pod},
    }


def deployment_manifest(name: str = "web", namespace: str = SITE_NS, *, replicas: int = 1, **template: Any) -> dict[str, Any]:
    tpl = pod_template(**template)
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": tpl["metadata"]["labels"]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": tpl["metadata"]["labels"]}, "template": tpl},
    }


def deployment(name: str = "web", namespace: str = SITE_NS, *, opts: pulumi.ResourceOptions | None = None, **kwargs: Any):
    manifest = deployment_manifest(name, namespace, **kwargs)
    return k8s.apps.v1.Deployment(f"{namespace}-{name}", metadata=manifest["metadata"], spec=manifest["spec"], opts=opts)


def rendered_by_chart(chart: str) -> pulumi.ResourceOptions:
    """Options that register an object as a child of a helm.v4.Chart named `chart`, as the engine does."""
    return pulumi.ResourceOptions(parent=pulumi.ComponentResource("kubernetes:helm.sh/v4:Chart", chart))


def record(program: Callable[[], None], stack: str = "prod") -> Recording:
    return run_program(load_stack(stack), program=program)


def evaluate(program: Callable[[], None], *, stack: str = "prod", config: dict[str, Any] | None = None) -> PolicyReport:
    """Run `program` under mocks with the stack's settings and check the pack against what it registered."""
    return check_recording(record(program, stack), config=config)


def of_policy(report: PolicyReport, policy: str) -> list[Violation]:
    return [v for v in report.violations if v.policy == policy]


def messages(report: PolicyReport, policy: str) -> str:
    return "\n".join(v.message for v in of_policy(report, policy))
