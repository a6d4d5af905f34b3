"""Platform objects that live in, or are about, each site and so follow the sites layer: the site's
KubeArmor PHP-FPM policy (its namespace must exist first) and the site's secrets in OpenBao/Vault (they
come from the data layer's tenancy). program.py registers this component after the sites layer.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.config.loader import Secrets
from components.config.model import StackConfig
from components.data.tenancy import SiteDataTenancy
from components.platform.runtime import php_fpm_policy
from components.platform.site_secrets import SiteSecrets


class SitePlatformObjects(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        config: StackConfig,
        secrets: Secrets,
        tenancy: Mapping[str, SiteDataTenancy],
        opts: pulumi.ResourceOptions,
    ):
        super().__init__("magento:platform:SitePlatformObjects", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.runtime_policies = {site.name: php_fpm_policy(config, site, child) for site in config.sites}
        self.site_secrets: SiteSecrets | None = None
        if secrets.secrets_store_token is not None:
            self.site_secrets = SiteSecrets("site-secrets", config, secrets.secrets_store_token, tenancy, child)
        else:
            pulumi.log.warn(
                "secretsStoreToken is not set: site secrets are not written to the secrets store "
                "(initialise and unseal it, then set the token: docs/runbooks/openbao-unseal.md)",
                resource=self,
            )
        self.register_outputs({"secretPaths": self.site_secrets.paths if self.site_secrets else {}})
