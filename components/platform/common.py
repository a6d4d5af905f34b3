"""What every platform service shares: its namespace, its generated secrets, its placement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.network_policy import namespace_isolation
from components.placement import CONTROL_PLANE_TOLERATION, HOST_KEY, WITNESS_TOLERATION, ZONE_KEY

# Tolerations for members of a quorum (OpenBao/Vault Raft): a witness host counts as a failure domain.
WITNESS_TOLERATIONS = [WITNESS_TOLERATION, CONTROL_PLANE_TOLERATION]


def service_namespace(
    name: str,
    level: kube.PodSecurityLevel,
    component: str,
    opts: pulumi.ResourceOptions,
    *,
    allow_from: Sequence[str] = (),
) -> k8s.core.v1.Namespace:
    """A platform namespace with Pod Security labels and the namespace-isolation policy (inbound only from
    itself, the nodes, the API server, monitoring and `allow_from`)."""
    ns = kube.namespace(
        f"{name}-namespace", name, level=level, component=component, extra_labels={"magento.io/secret-store": "platform"}, opts=opts
    )
    namespace_isolation(
        f"{name}-isolation", name, allow_from=allow_from, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns]))
    )
    return ns


def generated_secret(name: str, opts: pulumi.ResourceOptions, length: int = 32) -> pulumi.Output[str]:
    """A random alphanumeric value kept in state as a secret (feeds values a chart would otherwise randomise)."""
    password = random.RandomPassword(name, length=length, special=False, opts=opts)
    return pulumi.Output.secret(password.result)


def opaque_secret(
    resource_name: str, name: str, namespace: str, data: Mapping[str, pulumi.Input[str]], component: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=kube.labels(component)),
        type="Opaque",
        string_data=dict(data),
        opts=opts,
    )


def soft_spread(match_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Spread over zones and hosts without refusing to schedule: for quorum members whose volumes exist only
    on some hosts (a witness without a ZFS pool cannot hold a Raft volume, so a hard zone spread would stall)."""
    selector = {"matchLabels": dict(match_labels)}
    return [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        for key in (ZONE_KEY, HOST_KEY)
    ]
