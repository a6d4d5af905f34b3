"""The sites layer: one tenancy per configured store (the stores' workloads build on it)."""

from __future__ import annotations

from components.layer import Layer, LayerArgs
from sites.tenancy import SiteTenancy, SiteTenancyArgs, namespace_name


class Sites(Layer):
    TYPE = "magento:sites:Sites"

    def build(self, args: LayerArgs) -> dict[str, object]:
        self.tenancies = {
            site.name: SiteTenancy(site.name, SiteTenancyArgs(site), self.child_opts) for site in args.config.sites
        }
        return {"namespaces": [namespace_name(site) for site in args.config.sites]}
