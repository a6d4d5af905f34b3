"""Platform objects that live in, or are about, each site and so follow the sites layer: the site's
KubeArmor PHP-FPM policy (its namespace must exist first), the site's secrets in OpenBao/Vault (they come
from the data layer's tenancy) and, for a `delivery: gitops` site, one ExternalSecret per service rendered
into `tenants/<site>/` (so that the Secrets a gitops site's pods use are made by External Secrets in the
cluster, never written to disk). program.py registers this component after the sites layer.

Contract with the sites layer: the Secret of a site's service is named `<service>-credentials`
(`database-credentials`, `search-credentials`, `queue-credentials`, `valkey-cache-credentials`, ...), with
the keys of `site_secrets.site_entries()`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.loader import Secrets
from components.config.model import Site, StackConfig
from components.data.tenancy import SiteDataTenancy
from components.platform.runtime import php_fpm_policy
from components.platform.secrets import site_role
from components.platform.site_secrets import SiteSecrets, site_services


def secret_name(service: str) -> str:
    return f"{service}-credentials"


def external_secret(site: Site, service: str, opts: pulumi.ResourceOptions, *, secret: str | None = None,
                    annotations: Mapping[str, pulumi.Input[str]] | None = None) -> k8s.apiextensions.CustomResource:
    """The ExternalSecret that makes Secret `secret` (default `<service>-credentials`) from `sites/<site>/<service>`,
    each key of the store's entry a key of the Secret. Any change of its annotations makes External Secrets
    read the entry again at once (not after `refreshInterval`)."""
    target = secret or secret_name(service)
    metadata: dict[str, object] = {"name": target, "namespace": f"site-{site.name}",
                                   "labels": kube.labels("secrets", **{"magento.io/site": site.name})}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return k8s.apiextensions.CustomResource(
        f"external-secret-{site.name}-{service}",
        api_version="external-secrets.io/v1",
        kind="ExternalSecret",
        metadata=metadata,
        spec={
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": site_role(site)},
            "target": {"name": target, "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "dataFrom": [{"extract": {"key": f"sites/{site.name}/{service}"}}],
        },
        opts=opts,
    )


class SitePlatformObjects(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        config: StackConfig,
        secrets: Secrets,
        tenancy: Mapping[str, SiteDataTenancy],
        render_providers: Mapping[str, pulumi.ProviderResource],
        opts: pulumi.ResourceOptions,
        store_entries: Mapping[str, Mapping[str, Mapping[str, pulumi.Input[str]]]] | None = None,
    ):
        super().__init__("magento:platform:SitePlatformObjects", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.runtime_policies = {site.name: php_fpm_policy(config, site, child) for site in config.sites}
        self.external_secrets = {
            site.name: [
                external_secret(site, service, pulumi.ResourceOptions(parent=self, provider=render_providers[site.name]))
                for service in site_services(config)
            ]
            for site in config.sites
            if site.name in render_providers
        }
        self.site_secrets: SiteSecrets | None = None
        if secrets.secrets_store_token is not None:
            self.site_secrets = SiteSecrets("site-secrets", config, secrets.secrets_store_token, tenancy, child,
                                            store_entries or {})
        else:
            pulumi.log.warn(
                "secretsStoreToken is not set: site secrets are not written to the secrets store "
                "(initialise and unseal it, then set the token: docs/runbooks/openbao-unseal.md)",
                resource=self,
            )
        self.register_outputs({"secretPaths": self.site_secrets.paths if self.site_secrets else {}})
