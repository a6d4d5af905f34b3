"""Argo CD: the GitOps controller for sites delivered with `delivery: gitops`, one AppProject per site.

Who owns what (docs/platform.md has the table): Pulumi owns the cluster, every platform service and each
site's guard rails (namespace, quota, limits, network policy, AppProject); Argo CD owns the objects under
`tenants/<site>/` of the GitOps repository for gitops sites; External Secrets owns every Secret in a gitops
site's namespace. The AppProject enforces that split: a site's project may deploy only into the site's
namespace, no cluster-scoped object, and none of the kinds Pulumi or External Secrets own.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.model import Site, StackConfig
from components.edge.gateway import ENVOY_GATEWAY_NAMESPACE
from components.placement import replicas, spread_constraints
from components.platform.common import generated_secret, opaque_secret, service_namespace

ARGOCD_NAMESPACE = "argocd"
REDIS_TAG = "8.2.3-alpine"  # argo-cd-10.1.1.source.json default_images: ecr-public.aws.com/docker/library/redis:8.2.3-alpine
IN_CLUSTER = "https://kubernetes.default.svc"
# Kinds a site's Argo CD project may never create: the guard rails Pulumi owns, and Secrets (External Secrets owns them).
PROJECT_DENIED_KINDS = [
    {"group": "", "kind": "Secret"},
    {"group": "", "kind": "ResourceQuota"},
    {"group": "", "kind": "LimitRange"},
    {"group": "networking.k8s.io", "kind": "NetworkPolicy"},
    {"group": "cilium.io", "kind": "CiliumNetworkPolicy"},
    {"group": "rbac.authorization.k8s.io", "kind": "Role"},
    {"group": "rbac.authorization.k8s.io", "kind": "RoleBinding"},
    {"group": "security.kubearmor.com", "kind": "KubeArmorPolicy"},
    # The media volume (pvc backend) is protected state Pulumi holds (protect, retainOnDelete): a prune must never delete it.
    {"group": "", "kind": "PersistentVolumeClaim"},
]


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"argocd-{component}", "app.kubernetes.io/instance": "argo-cd"}


def _replicated(config: StackConfig, domains: int, component: str, resources: dict[str, Any]) -> dict[str, Any]:
    count = replicas(domains)
    return {
        "replicas": count,
        "pdb": {"enabled": count > 1, "maxUnavailable": 1},
        "topologySpreadConstraints": spread_constraints(_labels(component), domains),
        "resources": resources,
    }


def argocd_values(config: StackConfig, domains: int) -> dict[str, Any]:
    sizes = config.platform.argocd
    return {
        "global": {"networkPolicy": {"create": True, "defaultDenyIngress": False}},
        "crds": {"install": True, "keep": True},
        "dex": {"enabled": False},  # no SSO configured: the admin account and per-project roles only
        # The secret-init Job is a hook, which helm.v4.Chart never runs: Secret argocd-redis is ours.
        "redisSecretInit": {"enabled": False},
        # The official image from Docker Hub (the chart's default is its ecr-public mirror of docker/library).
        "redis": {"resources": sizes.small.as_k8s(), "image": {"repository": "docker.io/library/redis", "tag": REDIS_TAG},
                  "readinessProbe": {"enabled": True}, "livenessProbe": {"enabled": True}},
        "controller": {"replicas": 1, "resources": sizes.controller.as_k8s()},  # one shard: HA by restart
        "server": _replicated(config, domains, "server", sizes.server.as_k8s()),
        "repoServer": _replicated(config, domains, "repo-server", sizes.repo_server.as_k8s()),
        "applicationSet": {**_replicated(config, domains, "applicationset-controller", sizes.small.as_k8s()),
                           "readinessProbe": {"enabled": True}, "livenessProbe": {"enabled": True}},
        "notifications": {"enabled": False},
        "configs": {"params": {"server.insecure": True}},  # TLS ends at the shared Gateway
    }


def site_project(site: Site, config: StackConfig, namespace: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The site's AppProject: its namespace only, nothing cluster-scoped, none of the guard-rail kinds."""
    repos = [config.platform.gitops.repository] if config.platform.gitops else []
    return k8s.apiextensions.CustomResource(
        f"argocd-project-{site.name}",
        api_version="argoproj.io/v1alpha1",
        kind="AppProject",
        metadata={"name": f"site-{site.name}", "namespace": ARGOCD_NAMESPACE, "labels": kube.labels("gitops", **{"magento.io/site": site.name})},
        spec={
            "description": f"Store {site.name}: objects under tenants/{site.name}/ into namespace {namespace} only",
            "sourceRepos": repos,
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace}],
            "clusterResourceWhitelist": [],
            "namespaceResourceBlacklist": PROJECT_DENIED_KINDS,
        },
        opts=opts,
    )


def site_application(site: Site, config: StackConfig, namespace: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The Application that syncs `tenants/<site>/` of the GitOps repository into the site's namespace."""
    gitops = config.platform.gitops
    assert gitops is not None  # the model requires platform.gitops for gitops sites
    return k8s.apiextensions.CustomResource(
        f"argocd-app-{site.name}",
        api_version="argoproj.io/v1alpha1",
        kind="Application",
        metadata={"name": f"site-{site.name}", "namespace": ARGOCD_NAMESPACE, "labels": kube.labels("gitops", **{"magento.io/site": site.name}),
                  "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        spec={
            "project": f"site-{site.name}",
            "source": {"repoURL": gitops.repository, "targetRevision": gitops.revision, "path": f"tenants/{site.name}", "directory": {"recurse": True}},
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=false", "ServerSideApply=true"],
                "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
            },
        },
        opts=opts,
    )


class ArgoCd(pulumi.ComponentResource):
    """Argo CD and, per site, its AppProject (and its Application for gitops sites)."""

    def __init__(self, name: str, config: StackConfig, domains: int, opts: pulumi.ResourceOptions):
        super().__init__("magento:platform:ArgoCd", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = service_namespace(ARGOCD_NAMESPACE, "restricted", "gitops", child, allow_from=[ENVOY_GATEWAY_NAMESPACE])
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        redis = opaque_secret(
            "argocd-redis", "argocd-redis", ARGOCD_NAMESPACE, {"auth": generated_secret("argocd-redis-password", child)}, "gitops", after_ns
        )
        self.chart = kube.chart(
            "argo-cd", "argo-cd", namespace=ARGOCD_NAMESPACE, values=argocd_values(config, domains),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, redis]),
        )
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=[self.chart])
        self.projects = {site.name: site_project(site, config, f"site-{site.name}", after_chart) for site in config.sites}
        self.applications = {
            site.name: site_application(site, config, f"site-{site.name}", pulumi.ResourceOptions(parent=self, depends_on=[self.projects[site.name]]))
            for site in config.sites
            if site.delivery == "gitops"
        }
        self.register_outputs({"projects": sorted(self.projects), "applications": sorted(self.applications)})
