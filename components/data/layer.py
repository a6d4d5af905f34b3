"""The data layer: Percona XtraDB Cluster, OpenSearch, RabbitMQ and Valkey, and each store's tenancy.

A thin composition: each service is a component of its own module (`pxc.py`, `opensearch.py`, ...);
this layer creates them, then one tenancy per configured site, and hands the sites layer a
`SiteDataTenancy` per site (components/data/tenancy.py), the one contract between the two layers.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from components import versions
from components.config.model import Site
from components.data import opensearch, pxc, rabbitmq, valkey
from components.data.tenancy import (
    Credential,
    DatabaseTenancy,
    MediaTenancy,
    QueueTenancy,
    SearchTenancy,
    SiteDataTenancy,
    ValkeyStore,
)
from components.data.tenancy_sql import TenancyJobArgs, database_name, tenancy_job, user_name
from components.layer import Layer, LayerArgs
from components.sizing import site_database_connections
from sites.tenancy import namespace_name


class DataServices(Layer):
    TYPE = "magento:data:DataServices"

    def build(self, args: LayerArgs) -> dict[str, object]:
        config = args.config
        # One tenancy per configured site, handed to the sites layer (components/data/tenancy.py).
        self.tenancy: dict[str, SiteDataTenancy] = {}
        self.database_tenancy: dict[str, DatabaseTenancy] = {}
        self.search_tenancy: dict[str, SearchTenancy] = {}
        stores = tuple(namespace_name(site) for site in config.sites)
        connections = {site.name: site_database_connections(site) for site in config.sites}
        backups = args.backups

        self.mysql = pxc.PerconaXtraDB(
            "mysql",
            pxc.PxcArgs(config, args.failure_domains, sum(connections.values()),
                        backups.target("mysql") if backups else None, stores),
            self.child_opts,
        )
        self.search = opensearch.OpenSearch(
            "opensearch",
            opensearch.OpenSearchArgs(config, args.failure_domains, backups.target("opensearch") if backups else None, stores),
            self.child_opts,
        )
        self.kv = valkey.ValkeyService("valkey", valkey.ValkeyServiceArgs(config, args.failure_domains), self.child_opts)
        self.valkey_tenancy: dict[str, dict[str, ValkeyStore]] = self.kv.stores
        self.queue = rabbitmq.RabbitMQ("rabbitmq", rabbitmq.RabbitMQArgs(config, args.failure_domains), self.child_opts)
        self.queue_tenancy: dict[str, QueueTenancy] = self.queue.queues
        for site in config.sites:
            self.database_tenancy[site.name] = self._database(site, connections[site.name])
            self.search_tenancy[site.name] = SearchTenancy(
                host=opensearch.HOST, port=opensearch.PORT, scheme="https", index_prefix=opensearch.index_prefix(site),
                credential=Credential(user=f"site-{site.name}", password=self.search.passwords[site.name]),
                ca_cert=self.search.ca_cert,
            )
        for site in config.sites:
            self.tenancy[site.name] = SiteDataTenancy(
                site=site.name,
                database=self.database_tenancy[site.name],
                search=self.search_tenancy[site.name],
                queue=self.queue_tenancy[site.name],
                valkey=self.valkey_tenancy[site.name],
                media=self._media(site),
            )
        return {
            "mysql": {"writer": f"{pxc.WRITER_HOST}:{pxc.PORT}", "members": pxc.data_members(config), "arbitrator": pxc.arbitrated(config),
                      "maxConnections": self.mysql.sizing.max_connections, "bufferPoolBytes": self.mysql.sizing.buffer_pool},
            "opensearch": {"endpoint": f"https://{opensearch.HOST}:{opensearch.PORT}",
                           "nodes": config.replicas_for(config.data.opensearch)},
            "rabbitmq": {"endpoint": f"amqp://{rabbitmq.HOST}:{rabbitmq.AMQP_PORT}",
                         "members": config.replicas_for(config.data.rabbitmq)},
            "valkey": {"instances": sorted(f"{site}-{p}" for site, stores in self.kv.stores.items() for p in stores),
                       "failover": valkey.failover(config)},
        }

    def _media(self, site: Site) -> MediaTenancy | None:
        """The store's media prefix with its own key (`backup.mediaCredentials: ovh`, components/backups/media_keys.py).
        Never the platform's key, which can read and delete every bucket: without a key of its own (`manual`) the
        store reads its keys from its Secret media-credentials (sites/common.py)."""
        target = self.args.backups.media_target(site.name) if self.args.backups else None
        if target is None:
            return None
        return MediaTenancy(target.endpoint, target.region, target.bucket, target.prefix,
                            target.access_key_id, target.secret_access_key)

    def _database(self, site: Site, max_connections: int) -> DatabaseTenancy:
        """The store's schema and user, created by its tenancy Job once the cluster answers."""
        password = random.RandomPassword(f"{site.name}-mysql-password", length=32, special=False, opts=self.child_opts)
        secret = pulumi.Output.secret(password.result)
        tenancy_job(
            f"{site.name}-mysql-tenancy",
            TenancyJobArgs(
                site=site.name, password=secret, max_connections=max_connections, namespace=pxc.NAMESPACE,
                host=pxc.WRITER_HOST, port=pxc.PORT, root_secret=pxc.SYSTEM_USERS_SECRET, image=versions.image("pxc").ref,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.mysql.cluster, self.mysql.system_users]),
        )
        return DatabaseTenancy(
            host=pxc.WRITER_HOST, port=pxc.PORT, name=database_name(site.name),
            credential=Credential(user=user_name(site.name), password=secret),
        )
