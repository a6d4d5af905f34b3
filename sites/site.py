"""One Magento store: everything it runs, as one component, the same in the platform stack and in its own
site stack (`<env>-site-<name>`, sites/stack.py).

    SiteTenancy (namespace, quota, default deny, DNS)
    Secret magento-env (env.php), ConfigMaps (php, nginx, VCL, scripts, opensearch-ca), media PVC (pvc backend)
    Release release-<tag>  --->  PHP-FPM, nginx, cron, consumers (+ KEDA)  --->  resume-<tag>
    Varnish (StatefulSet, every pod a purge target)   SiteEdge (routes, rate limits, WAF -> Varnish)
    exporter sidecars in nginx, PHP-FPM and Varnish pods; PodMonitor site-metrics (with the Prometheus CRDs)
    SiteNetwork (gateway -> WAF -> Varnish -> nginx -> PHP-FPM -> data services)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config.model import Site
from components.data.tenancy import SiteDataTenancy
from sites.common import (
    ENV_PHP_SECRET,
    MEDIA_PVC,
    PHP_CONFIG,
    RELEASE_SCRIPTS,
    SEARCH_CA,
    Delivery,
    MediaLocation,
    SiteContext,
    unsecret_checksum,
)
from sites.consumers import Consumers
from sites.cron import CronTier
from sites.edge import BackendService, SiteEdge, SiteEdgeArgs
from sites.env_php import env_php
from sites.exporters import site_pod_monitor
from sites.gitops import StoreEntries, store_secret
from sites.network import SiteNetwork
from sites.nginx import NGINX_NAME, NginxTier
from sites.php_fpm import FPM_NAME, PhpFpmTier, php_config
from sites.release import Release
from sites.runtime.varnish import HTTP_PORT as VARNISH_PORT
from sites.scripts import scripts
from sites.tenancy import SiteTenancy, SiteTenancyArgs, namespace_name
from sites.varnish import SERVICE_PORT, VARNISH_NAME, VarnishTier


@dataclass(frozen=True)
class MagentoSiteArgs:
    site: Site
    tenancy: SiteDataTenancy
    failure_domains: int
    pod_cidr: str
    storage_class: str | None = None  # the media volume's class (pvc backend)
    protect: bool = True  # the media volume survives `pulumi destroy` unless the stack says otherwise
    cdn_cidrs: tuple[str, ...] = ()  # edge.trustedProxyCidrs: a CDN in front of the Gateway
    media_location: MediaLocation | None = None  # the store's prefix in the media bucket (s3 without tenancy keys)
    monitors: bool = False  # the Prometheus Operator CRDs exist (platform.observability.serviceMonitors): add the PodMonitor
    # delivery: gitops: the provider that renders the store's workloads to tenants/<site>/ (sites/gitops.py).
    render_provider: pulumi.ProviderResource | None = None


def search_ca_cert(ctx: SiteContext) -> pulumi.Input[str]:
    """The CA the store trusts for OpenSearch; an https search endpoint without one is refused (never verify=false)."""
    search = ctx.tenancy.search
    if search.ca_cert is None:
        raise ValueError(f"site {ctx.site.name}: the search tenancy has scheme {search.scheme} and no ca_cert "
                         "(the data layer's OpenSearch HTTP CA, components/data/search_tls.py)")
    return search.ca_cert


class MagentoSite(pulumi.ComponentResource):
    def __init__(self, name: str, args: MagentoSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:MagentoSite", name, None, opts)
        site = args.site
        # Guard rails (tenancy, network policies, media volume) keep the provider this component was given; a
        # gitops store's workloads go to its render provider (sites/gitops.py).
        delivery = Delivery(args.render_provider, self.get_provider("kubernetes::Provider") if args.render_provider else None)
        ctx = SiteContext(site, namespace_name(site), args.tenancy, args.failure_domains, args.pod_cidr, args.media_location, delivery)
        self.tenancy = SiteTenancy(name, SiteTenancyArgs(site), pulumi.ResourceOptions(parent=self))
        guarded = pulumi.ResourceOptions(parent=self, depends_on=[self.tenancy])
        inside = delivery.workloads(guarded)
        # What a gitops store's ExternalSecrets read, for the platform to write into the secrets store.
        self.store_entries: StoreEntries = {}

        crypt = random.RandomPassword(f"{name}-crypt-key", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        env_text = env_php(ctx, pulumi.Output.secret(crypt.result))
        env_secret = store_secret(f"{name}-env-php", ctx, ENV_PHP_SECRET, "magento", "env-php", {"env.php": env_text}, inside,
                                  self.store_entries)
        config = php_config(ctx)
        search_ca = search_ca_cert(ctx)
        configs = [
            k8s.core.v1.ConfigMap(f"{name}-php-config", metadata=ctx.meta(PHP_CONFIG, "magento"), data=config, opts=inside),
            k8s.core.v1.ConfigMap(f"{name}-scripts", metadata=ctx.meta(RELEASE_SCRIPTS, "magento"), data=scripts(), opts=inside),
            # The OpenSearch HTTP CA (public), from the tenancy: the `ca-bundle` init container adds it to the system CAs.
            k8s.core.v1.ConfigMap(f"{name}-search-ca", metadata=ctx.meta(SEARCH_CA, "magento"), data={"ca.crt": search_ca}, opts=inside),
        ]
        if site.media.backend == "pvc":
            configs.append(k8s.core.v1.PersistentVolumeClaim(
                f"{name}-media",
                metadata=ctx.meta(MEDIA_PVC, "magento"),
                spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": site.media.pvc_size}},
                      **({"storageClassName": args.storage_class} if args.storage_class else {})},
                # Removing a site never deletes its media: docs/sites.md, "Removing a store".
                opts=pulumi.ResourceOptions.merge(guarded, pulumi.ResourceOptions(protect=args.protect, retain_on_delete=True)),
            ))
        # Pods roll when env.php or the search CA changes (both are read only when a pod starts).
        checksum = unsecret_checksum(pulumi.Output.all(env_text, search_ca).apply(lambda parts: "\0".join(parts)))
        after_config = delivery.workloads(pulumi.ResourceOptions(parent=self, depends_on=[self.tenancy, env_secret, *configs]))
        self.varnish = VarnishTier(f"{name}-varnish", ctx, after_config)

        # Consumers are declared before the release (the Job pauses their ScaledObjects by name) but roll after it.
        scaled = [f"consumer-{group.name}" for group in site.consumers]
        self.release = Release(f"{name}-release", ctx, scaled, [env_secret, *configs], inside)
        after_release = delivery.workloads(
            pulumi.ResourceOptions(parent=self, depends_on=[self.tenancy, env_secret, *configs, self.release.release_job]))
        self.php_fpm = PhpFpmTier(f"{name}-php-fpm", ctx, checksum, config, after_release)
        self.nginx = NginxTier(f"{name}-nginx", ctx, after_release)
        self.cron = CronTier(f"{name}-cron", ctx, checksum, after_release)
        self.consumers = Consumers(f"{name}-consumers", ctx, checksum, after_release)
        self.resume = self.release.resume_after([self.php_fpm, self.nginx, self.cron, self.consumers])

        SiteNetwork(f"{name}-network", ctx, guarded)
        if args.monitors:
            site_pod_monitor(f"{name}-pod-monitor", ctx, [NGINX_NAME, FPM_NAME, VARNISH_NAME], inside)
        self.edge = SiteEdge(
            f"{name}-edge",
            SiteEdgeArgs(
                site,
                BackendService(VARNISH_NAME, ctx.namespace, SERVICE_PORT, ctx.pod_labels(VARNISH_NAME), VARNISH_PORT),
                args.pod_cidr,
                args.failure_domains,
                args.cdn_cidrs,
                delivery,
            ),
            delivery.workloads(pulumi.ResourceOptions(parent=self, depends_on=[self.tenancy, self.varnish])),
        )
        self.store_entries.update(self.consumers.store_entries)
        self.register_outputs({"namespace": ctx.namespace, "release": site.release_name})
