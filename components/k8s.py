"""Small builders shared by every layer: labels, namespaces with Pod Security labels, pinned charts.

Every Kubernetes object gets an explicit `metadata.name`; charts read their pin from
`components.versions` so that a version lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import versions

PART_OF = "magento-platform"
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]


def labels(component: str, **extra: str) -> dict[str, str]:
    """Standard labels for objects this program creates."""
    return {
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
        **extra,
    }


def pod_security_labels(level: PodSecurityLevel) -> dict[str, str]:
    """Pod Security Admission labels: enforce, audit and warn at one level, pinned to `latest`."""
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": level,
        "pod-security.kubernetes.io/warn": level,
    }


def namespace(
    resource_name: str,
    name: str,
    *,
    level: PodSecurityLevel,
    component: str,
    extra_labels: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={**labels(component), **pod_security_labels(level), **(extra_labels or {})},
        ),
        opts=opts,
    )


def chart(
    resource_name: str,
    pin_key: str,
    *,
    namespace: str,
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    skip_crds: bool = False,
    transforms: Sequence[pulumi.ResourceTransform] = (),
) -> k8s.helm.v4.Chart:
    """A helm.v4.Chart at the version pinned in `versions.CHARTS[pin_key]`.

    `transforms` (components/chart_patches.py) change rendered objects where the chart has no value for it.
    """
    pin = versions.chart(pin_key)
    if pin.repo.startswith("oci://"):
        chart_ref, repository_opts = f"{pin.repo}/{pin.chart}", None
    else:
        chart_ref, repository_opts = pin.chart, k8s.helm.v4.RepositoryOptsArgs(repo=pin.repo)
    return k8s.helm.v4.Chart(
        resource_name,
        name=resource_name,
        chart=chart_ref,
        version=pin.version,
        repository_opts=repository_opts,
        namespace=namespace,
        values=dict(values),
        skip_crds=skip_crds,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transforms=list(transforms))) if transforms else opts,
    )


def disruption_budget(
    resource_name: str,
    name: str,
    namespace: str,
    match_labels: Mapping[str, str],
    *,
    component: str,
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """A PodDisruptionBudget letting a drain take one replica at a time (for workloads of more than one)."""
    return k8s.policy.v1.PodDisruptionBudget(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(component)),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(match_labels))
        ),
        opts=opts,
    )


def manifest(resource_name: str, pin_key: str, *, opts: pulumi.ResourceOptions) -> k8s.yaml.v2.ConfigFile:
    """A release manifest (an operator's published YAML) at the URL pinned in `versions.MANIFESTS[pin_key]`.

    The provider fetches the URL at preview and `up`; the offline plan reads the same version from the
    chart cache (`<name>-<version>.yaml`) and renders it as the provider registers it.
    """
    return k8s.yaml.v2.ConfigFile(resource_name, file=versions.MANIFESTS[pin_key].url, opts=opts)


def custom_object(
    resource_name: str,
    api_version: str,
    kind: str,
    *,
    metadata: Mapping[str, Any],
    fields: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """A custom resource whose body has top-level fields other than `spec` (e.g. `driver` of a
    VolumeSnapshotClass, `specs` of a Cilium policy), which `apiextensions.CustomResource` cannot carry.

    Registered under the same type token the Kubernetes provider uses for any custom resource.
    """
    from pulumi_kubernetes import _utilities

    props = {"apiVersion": api_version, "kind": kind, "metadata": dict(metadata), **fields}
    return pulumi.CustomResource(
        f"kubernetes:{api_version}:{kind}",
        resource_name,
        props,
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_utilities.get_version())),
    )
