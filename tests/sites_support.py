"""A store built under mocks on a tenancy shaped as the data layer hands it (hosts of the data services'
Services, passwords as secret Outputs), so the sites tests need no data layer."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config.loader import load_from_pulumi
from components.config.model import Site
from components.data.search_tls import ca_material
from components.data.tenancy import (
    Credential,
    DatabaseTenancy,
    MediaTenancy,
    QueueTenancy,
    SearchTenancy,
    Sentinel,
    SiteDataTenancy,
    ValkeyStore,
)
from components.layer import service_monitors
from sites.layer import media_location
from sites.site import MagentoSite, MagentoSiteArgs


def secret(value: str) -> pulumi.Output[str]:
    return pulumi.Output.secret(value)


# The OpenSearch HTTP CA as the data layer derives it (a fixed seed here): public, the same for every store.
SEARCH_CA = ca_material("test-seed-" + "0" * 54, "test").cert_pem


def tenancy_for(site: Site, *, sentinel: bool = True, media: bool = True) -> SiteDataTenancy:
    """What the data layer gives `site`: its schema, vhost, index prefix, Valkey stores and media prefix."""
    name = site.name
    valkey = {
        purpose: ValkeyStore(
            purpose=purpose,
            host=f"valkey-{name}-{purpose.replace('_', '-')}.valkey.svc.cluster.local",
            port=6379,
            database=0,
            credential=Credential(f"{name}-{purpose}", secret(f"pw-valkey-{name}-{purpose}")),
            sentinel=Sentinel(("valkey-sentinel.valkey.svc.cluster.local:26379",), f"{name}-{purpose}") if sentinel else None,
        )
        for purpose in ("cache", "session")  # the data layer's stores (Varnish is the full-page cache)
    }
    return SiteDataTenancy(
        site=name,
        database=DatabaseTenancy("pxc-haproxy.mysql.svc.cluster.local", 3306, f"site_{name.replace('-', '_')}",
                                 Credential(f"site_{name.replace('-', '_')}", secret(f"pw-db-{name}"))),
        search=SearchTenancy("opensearch.opensearch.svc.cluster.local", 9200, "https", name,
                             Credential(f"site-{name}", secret(f"pw-search-{name}")), SEARCH_CA),
        queue=QueueTenancy("rabbitmq.rabbitmq.svc.cluster.local", 5672, f"site-{name}",
                           Credential(f"site-{name}", secret(f"pw-queue-{name}"))),
        valkey=valkey,
        media=MediaTenancy("https://s3.gra.io.cloud.ovh.net", "gra", "magento-prod-media", f"{name}/",
                           secret(f"key-{name}"), secret(f"secret-{name}")) if media else None,
    )


def sites_program(media_keys: bool = True) -> None:
    """Every store of the stack file as the sites layer builds it, each on its own tenancy (with media keys
    in the tenancy, or, `media_keys=False`, as the data layer has them today: none, the store's Secret), with
    its PodMonitor when the stack's `platform.observability.serviceMonitors` says so (as sites/layer.py)."""
    config, _ = load_from_pulumi()
    provider = k8s.Provider("test-kubernetes")
    for site in config.sites:
        MagentoSite(
            site.name,
            MagentoSiteArgs(site, tenancy_for(site, media=media_keys and site.media.backend == "s3"), config.failure_domains,
                            config.cluster.pod_cidr, config.storage.default_class, config.protect_stateful,
                            tuple(config.edge.trusted_proxy_cidrs), media_location(config, site.name), service_monitors(config)),
            pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )
