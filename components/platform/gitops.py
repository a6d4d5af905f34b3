"""`delivery: gitops`: a site's workload objects are written to `tenants/<site>/` of the GitOps repository
checkout instead of being applied, and the site's Argo CD Application syncs that path.

How: a Kubernetes provider with `renderYamlToDirectory` (pulumi-kubernetes writes each object it would
apply as a YAML file under `1-manifest/` of that directory and applies nothing: sites/gitops.py has the
details). The sites layer registers a gitops site's workloads with `render_providers(...)[site]`
(`LayerArgs.site_providers`); the site's guard rails (namespace, quota, limits, network policies, RBAC,
media volume: the kinds its AppProject denies) stay on the cluster provider so that a change in git can never
loosen them. The provider writes every object to disk in plain text, Secrets included, so in gitops mode no
Secret is ever registered with it: secrets reach the namespace only as ExternalSecrets reading OpenBao
(components/platform/site_objects.py, sites/gitops.py), and the plan's `gitops` check (offline/checks.py)
and tests/test_sites_gitops.py prove it.

Repository layout (docs/platform.md, "GitOps"): `infra/` (what Pulumi applies, for reference only: written
by `make plan`, never synced), `platform/` (platform-team extras Argo CD may sync under the platform
project), `tenants/<site>/` (one directory per gitops site, written here).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pulumi
import pulumi_kubernetes as k8s

from components.config.model import Site, StackConfig

LAYOUT = ("infra", "platform", "tenants")


def tenant_directory(config: StackConfig, site: Site) -> str:
    assert config.platform.gitops is not None
    return str(PurePosixPath(config.platform.gitops.directory) / "tenants" / site.name)


def render_providers(config: StackConfig, opts: pulumi.ResourceOptions) -> dict[str, k8s.Provider]:
    """One rendering provider per gitops site (no cluster connection; objects become files)."""
    return {
        site.name: k8s.Provider(f"gitops-{site.name}", render_yaml_to_directory=tenant_directory(config, site), opts=opts)
        for site in config.sites
        if site.delivery == "gitops"
    }
