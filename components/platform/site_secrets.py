"""The program writes the secrets it generates into OpenBao/Vault: one KV v2 entry per site and service.

Layout (mount `magento`, KV v2): `sites/<site>/database`, `sites/<site>/search`, `sites/<site>/queue`,
`sites/<site>/valkey-<purpose>` and `sites/<site>/media`, each with the keys a Magento env.php needs
(host, port, user, password, ...). Per site, a policy `site-<site>` reads `magento/data/sites/<site>/*`
only, and a Kubernetes-auth role of the same name binds it to External Secrets' service account; the
site's ClusterSecretStore logs in with that role (components/platform/secrets.py).

How, without an API server on the build machine: the pulumi-vault provider, as an explicit provider at
`platform.secrets.address` (https, verified with `platform.secrets.caCertFile`) with the `secretsStoreToken` secret setting (a token of policy
`magento-writer`, docs/runbooks/openbao-unseal.md). A fresh store is sealed and has no token: until the
token is set, nothing is written and `pulumi up` says so; after initialisation, set the token and run
`pulumi up` again. The values are pulumi-random outputs (secret in state); they are never printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_vault as vault

from components.config.model import StackConfig
from components.data.tenancy import SiteDataTenancy
from components.platform.secrets import ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, KUBERNETES_AUTH_PATH, KV_MOUNT, store_namespace
from components.platform.secrets_tls import service_host

WRITER_POLICY = "magento-writer"


def site_entries(tenancy: SiteDataTenancy) -> dict[str, dict[str, Any]]:
    """The KV entries of one site: service -> key/values (passwords are secret Outputs)."""
    db, search, queue = tenancy.database, tenancy.search, tenancy.queue
    entries: dict[str, dict[str, Any]] = {
        "database": {"host": db.host, "port": str(db.port), "dbname": db.name, "username": db.credential.user,
                     "password": db.credential.password},
        "search": {"host": search.host, "port": str(search.port), "scheme": search.scheme, "index_prefix": search.index_prefix,
                   "username": search.credential.user, "password": search.credential.password},
        "queue": {"host": queue.host, "port": str(queue.port), "vhost": queue.vhost, "username": queue.credential.user,
                  "password": queue.credential.password},
    }
    for purpose, store in tenancy.valkey.items():
        entries[f"valkey-{purpose.replace('_', '-')}"] = {
            "host": store.host, "port": str(store.port), "database": str(store.database),
            "username": store.credential.user, "password": store.credential.password,
        }
    if tenancy.media is not None:
        media = tenancy.media
        entries["media"] = {"endpoint": media.endpoint, "region": media.region, "bucket": media.bucket, "prefix": media.prefix,
                            "access_key_id": media.access_key_id, "secret_access_key": media.secret_access_key}
    return entries


def site_services(config: StackConfig) -> list[str]:
    """The services every site has an entry for (the keys of `site_entries`), known from the configuration alone."""
    services = ["database", "search", "queue", "valkey-cache", "valkey-page-cache", "valkey-session"]
    return [*services, "media"] if config.backup is not None else services


def site_policy(site: str) -> str:
    return f'path "{KV_MOUNT}/data/sites/{site}/*" {{\n  capabilities = ["read"]\n}}\n'


WRITER_POLICY_TEXT = (
    f'path "{KV_MOUNT}/data/sites/*" {{\n  capabilities = ["create", "read", "update", "delete"]\n}}\n'
    f'path "{KV_MOUNT}/metadata/sites/*" {{\n  capabilities = ["read", "list", "delete"]\n}}\n'
)


class SiteSecrets(pulumi.ComponentResource):
    """KV mount, Kubernetes auth, per-site policy and role, and every site's service credentials."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        token: pulumi.Input[str],
        tenancy: Mapping[str, SiteDataTenancy],
        opts: pulumi.ResourceOptions | None = None,
        store_entries: Mapping[str, Mapping[str, Mapping[str, pulumi.Input[str]]]] | None = None,
    ):
        """`store_entries`: site -> entry -> key/values the sites layer keeps in the store for a gitops site
        (env.php, KEDA's AMQP URI: sites/gitops.py), written beside the service credentials."""
        super().__init__("magento:platform:SiteSecrets", name, None, opts)
        # Over TLS, verified against the store's CA (a file: the provider takes no PEM) under the Service's name, which
        # the store's certificate carries (secrets_tls.server_names): a port-forward to 127.0.0.1 or any other address
        # reaching the listener is verified the same way. An http address is only for the `up` that switches a running
        # store to TLS (its servers speak HTTP until restarted, and the CA file cannot exist yet): no TLS settings then.
        settings = config.platform.secrets
        tls = {"ca_cert_file": settings.ca_cert_file, "tls_server_name": service_host(store_namespace(config))} \
            if settings.address.startswith("https://") else {}
        self.provider = vault.Provider(
            "secrets-store", address=settings.address, token=pulumi.Output.secret(token),
            skip_child_token=True, opts=pulumi.ResourceOptions(parent=self), **tls,
        )
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        mount = vault.Mount("kv-magento", path=KV_MOUNT, type="kv", options={"version": "2"},
                            description="secrets the platform program generates", opts=child)
        auth = vault.AuthBackend("kubernetes-auth", type="kubernetes", path=KUBERNETES_AUTH_PATH, opts=child)
        auth_config = vault.kubernetes.AuthBackendConfig(
            "kubernetes-auth-config", backend=auth.path, kubernetes_host="https://kubernetes.default.svc", opts=child
        )
        after_auth = pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[auth_config])
        vault.Policy("policy-writer", name=WRITER_POLICY, policy=WRITER_POLICY_TEXT, opts=child)
        vault.Policy("policy-platform", name="platform", policy=f'path "{KV_MOUNT}/data/platform/*" {{\n  capabilities = ["read"]\n}}\n', opts=child)
        self._role("platform", "platform", after_auth, auth)
        self.paths: dict[str, list[str]] = {}
        for site in config.sites:
            if site.name not in tenancy:
                continue
            policy = vault.Policy(f"policy-site-{site.name}", name=f"site-{site.name}", policy=site_policy(site.name), opts=child)
            self._role(f"site-{site.name}", policy.name, after_auth, auth)
            self.paths[site.name] = []
            entries = {**site_entries(tenancy[site.name]), **(store_entries or {}).get(site.name, {})}
            for service, data in entries.items():
                path = f"sites/{site.name}/{service}"
                vault.kv.SecretV2(
                    f"secret-{site.name}-{service}",
                    mount=mount.path,
                    name=path,
                    data_json=pulumi.Output.secret(pulumi.Output.from_input(data).apply(lambda d: json.dumps(d, sort_keys=True))),
                    opts=child,
                )
                self.paths[site.name].append(path)
        self.register_outputs({"paths": self.paths})

    def _role(self, name: str, policy: pulumi.Input[str], opts: pulumi.ResourceOptions, auth: vault.AuthBackend) -> None:
        vault.kubernetes.AuthBackendRole(
            f"role-{name}",
            backend=auth.path,
            role_name=name,
            bound_service_account_names=[ESO_SERVICE_ACCOUNT],
            bound_service_account_namespaces=[ESO_NAMESPACE],
            token_policies=[policy],
            token_ttl=3600,
            opts=opts,
        )
