"""The sites layer: every store the platform stack builds itself (`deployment: platform`).

Each store is one `MagentoSite` (sites/site.py) on the tenancy the data layer built for it. A store with
`deployment: stack` is built by its own stack instead (sites/stack.py, from this stack's `siteTenancy`
output); this layer builds nothing of it. A store whose tenancy the data layer has not produced is
reported in the layer's `pendingTenancy` output and gets only its namespace and baseline isolation.
A `delivery: gitops` store's workloads go to the render provider `LayerArgs.site_providers` names for it
(its guard rails stay with the cluster provider: sites/gitops.py).
"""

from __future__ import annotations

import pulumi

from components.backups.streams import media_prefix
from components.config.model import StackConfig
from components.layer import Layer, LayerArgs, service_monitors
from sites.common import MediaLocation
from sites.gitops import StoreEntries
from sites.site import MagentoSite, MagentoSiteArgs
from sites.tenancy import SiteTenancy, SiteTenancyArgs, namespace_name


def media_location(config: StackConfig, site: str) -> MediaLocation | None:
    """The store's prefix in the stack's media bucket (components/backups/streams.py), when there is one."""
    if config.backup is None:
        return None
    backup = config.backup
    return MediaLocation(backup.endpoint.rstrip("/"), backup.region, backup.buckets.media, media_prefix(config.environment, site))


class Sites(Layer):
    TYPE = "magento:sites:Sites"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config = args.config
        self.sites: dict[str, MagentoSite] = {}
        self.tenancies: dict[str, SiteTenancy] = {}
        # site -> OpenBao entry -> key/values a gitops store's ExternalSecrets read (program.py hands them to
        # the platform's site secrets, components/platform/site_objects.py).
        self.store_entries: dict[str, StoreEntries] = {}
        pending = []
        for site in config.sites:
            if site.deployment == "stack":
                continue
            tenancy = args.tenancy.get(site.name)
            if tenancy is None:
                pending.append(site.name)
                pulumi.log.warn(f"site {site.name}: the data layer gave no tenancy; only its namespace is built")
                self.tenancies[site.name] = SiteTenancy(site.name, SiteTenancyArgs(site), self.child_opts)
                continue
            built = MagentoSite(
                site.name,
                MagentoSiteArgs(site, tenancy, args.failure_domains, config.cluster.pod_cidr,
                                config.storage.default_class, config.protect_stateful, tuple(config.edge.trusted_proxy_cidrs),
                                media_location(config, site.name), service_monitors(config),
                                render_provider=args.site_providers.get(site.name)),
                self.child_opts,
            )
            self.sites[site.name] = built
            if built.store_entries:
                self.store_entries[site.name] = built.store_entries
            self.tenancies[site.name] = built.tenancy
        return {
            "gitopsSites": sorted(name for name in self.sites if name in args.site_providers),
            "namespaces": [namespace_name(site) for site in config.sites if site.deployment == "platform"],
            "ownStacks": [site.name for site in config.sites if site.deployment == "stack"],
            "pendingTenancy": pending,
        }
