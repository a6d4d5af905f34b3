"""The data layer: Percona XtraDB Cluster, OpenSearch, RabbitMQ and Valkey, and each store's tenancy.

A thin composition: each service is a component of its own module; this layer creates them and hands the
sites layer a `SiteDataTenancy` per site (components/data/tenancy.py), the one contract between the two.
"""

from __future__ import annotations

from components.data import valkey
from components.data.tenancy import SiteDataTenancy, ValkeyStore
from components.layer import Layer, LayerArgs


class DataServices(Layer):
    TYPE = "magento:data:DataServices"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config = args.config
        # One tenancy per configured site, handed to the sites layer (components/data/tenancy.py).
        self.tenancy: dict[str, SiteDataTenancy] = {}
        self.kv = valkey.ValkeyService("valkey", valkey.ValkeyServiceArgs(config, args.failure_domains), self.child_opts)
        self.valkey_tenancy: dict[str, dict[str, ValkeyStore]] = self.kv.stores
        return {
            "valkey": {"instances": sorted(f"{site}-{p}" for site, stores in self.kv.stores.items() for p in stores),
                       "failover": valkey.failover(config)},
        }
