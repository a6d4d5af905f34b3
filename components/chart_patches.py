"""Changes to chart objects that a chart's values cannot make, as Pulumi resource transforms.

The engine applies a resource's `transforms` to every child a component registers, the children the
Kubernetes provider registers for a `helm.v4.Chart` included; each function here returns such a transform.
They are used where a chart has no value for something the platform requires (requests and limits on a
sidecar container, an annotation on a webhook configuration). The offline plan applies the same functions
to the objects it renders (offline/engine.py), so the checks see what the engine applies.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from components.config.base import ComputeResources

Transform = Callable[[pulumi.ResourceTransformArgs], pulumi.ResourceTransformResult | None]
WORKLOAD_POD_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _matches(props: Mapping[str, Any], kind: str, name: str) -> bool:
    meta = props.get("metadata") or {}
    return props.get("kind") == kind and fnmatch.fnmatchcase(str(meta.get("name", "")), name)


def container_resources(kind: str, name: str, containers: Mapping[str, ComputeResources]) -> Transform:
    """Set requests and limits on the named containers (globs; init containers too) of one workload."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not _matches(args.props, kind, name):
            return None
        props = copy.deepcopy(dict(args.props))
        pod: Any = props
        for key in WORKLOAD_POD_PATHS[kind]:
            pod = pod.get(key) or {}
        for key in ("initContainers", "containers"):
            for container in pod.get(key) or []:
                for pattern, resources in containers.items():
                    if fnmatch.fnmatchcase(container.get("name", ""), pattern):
                        container["resources"] = resources.as_k8s()
                        break
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


def annotate(kind: str, name: str, annotations: Mapping[str, str]) -> Transform:
    """Add annotations (e.g. `pulumi.com/waitFor`) to the named object(s)."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not _matches(args.props, kind, name):
            return None
        props = copy.deepcopy(dict(args.props))
        meta = props.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


# The provider waits for a webhook configuration until the CA bundle its controller injects is there; objects
# that the webhook validates (created after the chart) then never meet a webhook the API server cannot call.
WAIT_FOR_CA_BUNDLE = {"pulumi.com/waitFor": "jsonpath={.webhooks[0].clientConfig.caBundle}"}
