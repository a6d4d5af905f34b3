"""The shape both web tiers share: a Deployment scaled by an HPA on CPU, its Service and its PDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.site_tiers import WebTier
from sites.common import SiteContext


def autoscaled(
    parent: pulumi.Resource,
    name: str,
    ctx: SiteContext,
    component: str,
    tier: WebTier,
    template: dict[str, Any],
    port: int,
    *,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apps.v1.Deployment:
    """Deployment `component` (replicas from the HPA: Pulumi sets the minimum once and then leaves
    `spec.replicas` to the autoscaler; a gitops store's manifest has none, or Argo CD's self-heal would undo
    every scaling), Service `component` on `port`, HPA on CPU, PDB when it can have two."""
    selector = ctx.pod_labels(component)
    child = pulumi.ResourceOptions(parent=parent)
    deployment = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=ctx.meta(component, component, ctx.delivery.wave(2)),
        spec={
            **({} if ctx.delivery.gitops else {"replicas": tier.min_replicas}),
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": 5,
            "template": template,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), ignore_changes=["spec.replicas"]),
    )
    k8s.core.v1.Service(
        f"{name}-service",
        metadata=ctx.meta(component, component),
        spec={
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http" if component != "php-fpm" else "fastcgi", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
        opts=child,
    )
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{name}-hpa",
        metadata=ctx.meta(component, component),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": component},
            "minReplicas": tier.min_replicas,
            "maxReplicas": tier.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                    "averageUtilization": tier.target_cpu_percent}}}],
            # Scale down slowly (a storefront's load is spiky); up at once.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[deployment]),
    )
    if tier.max_replicas > 1:
        kube.disruption_budget(f"{name}-pdb", component, ctx.namespace, selector, component=component, opts=child)
    return deployment
