"""OpenSearch 2.19: the operator chart (2.8.2, stable operator 2.8.0), the cluster as a typed custom resource,
S3 snapshots with a retention policy, and per-store users and roles limited to the store's index prefix.

* **Nodes**: 1, or 3 cluster-manager-eligible nodes, one per failure domain (required host anti-affinity,
  zone spread). Data nodes need a ZFS volume, so they run only where a host has a pool. When two failure
  domains have one and the third is a witness without storage (prod's two servers and a witness), the
  third cluster manager is a small manager-only node on the witness (pool `witness`, on an emptyDir: it
  keeps no shards and re-reads the cluster state from the other two when it restarts): losing any one
  domain keeps 2 of 3 votes, and the two data nodes hold a replica of every shard between them.
* **Heap**: half the memory limit (`-Xms` = `-Xmx`), capped at 31 GiB to keep compressed pointers;
  the rest is Lucene's page cache.
* **vm.max_map_count**: set to 262144 on every host by the hosts layer (hosts/scripts/10-baseline.sh), so
  `setVMMaxMapCount: false`: the operator's privileged sysctl init container never runs and the
  namespace stays at the `baseline` Pod Security level, never `privileged`.
* **Security plugin on**: our own `internal_users.yml` (the admin's bcrypt hash from pulumi-random, no
  demo users) and `config.yml` (HTTP basic against internal users, no anonymous access); TLS on transport
  and on HTTP from two CAs of the program's own through cert-manager, renewed and hot-reloaded by the
  running nodes (components/data/search_transport.py, search_tls.py: the HTTP CA is the one the stores trust),
  and securityadmin's admin certificate from cert-manager too. Stores get users and roles through the operator's
  OpensearchUser / OpensearchRole / OpensearchUserRoleBinding resources, which live beside the cluster.
* **Index prefix per store**: Magento names indices `<prefix>_<entity>_<store>`; the prefix is the
  site name, a DNS label without `_`, so the pattern `<site>_*` matches only that store's indices
  (`shop_*` cannot match `shop-fr_product_1`).
* **Metrics**: the prometheus-exporter plugin on every node, a monitoring user and our ServiceMonitor
  (components/data/opensearch_metrics.py).
* **Snapshots**: repository `s3` (plugin `repository-s3`, installed by the operator at start, which needs
  egress to artifacts.opensearch.org or an image with the plugin baked in) in the opensearch bucket under
  `<env>/`, a daily OpensearchSnapshotPolicy deleting snapshots older than `keepDays` (keeping at least 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import k8s as kube
from components import versions
from components.backups import BucketTarget
from components.config.model import Site, StackConfig
from components.data import opensearch_metrics as metrics
from components.data import search_tls, search_transport
from components.data.mysql_config import MIB, parse_memory
from components.data.search_tls import SearchHttpTls, cluster_tls
from components.data.search_transport import SearchTransportTls, transport_tls
from components.layer import service_monitors
from components.network_policy import namespace_isolation
from components.placement import WITNESS_LABEL, WITNESS_TOLERATION, anti_affinity, spread_constraints, witness_quorum

NAMESPACE = "opensearch"
CLUSTER = "opensearch"
NODE_POOL = "nodes"
WITNESS_POOL = "witness"
WITNESS_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}
HOST = f"{CLUSTER}.{NAMESPACE}.svc.cluster.local"
PORT = 9200
ADMIN_SECRET = f"{CLUSTER}-admin-credentials"
ADMIN_USER = "platform-admin"  # the operator's user (not `admin`: no well-known name to guess)
SECURITY_CONFIG_SECRET = f"{CLUSTER}-securityconfig"
S3_SECRET = f"{CLUSTER}-s3-keystore"
REPOSITORY = "s3"
MAX_HEAP = 31 * 1024 * MIB
MIN_SNAPSHOTS = 3
CLUSTER_REF = {"name": CLUSTER}


def pod_labels(pool: str = NODE_POOL) -> dict[str, str]:
    """The labels the operator gives a node pool's pods."""
    return {"opster.io/opensearch-cluster": CLUSTER, "opster.io/opensearch-nodepool": pool}


def witness_manager(config: StackConfig) -> bool:
    """Three cluster managers wanted, two domains with storage and a third domain that only has a witness."""
    return witness_quorum(config, config.replicas_for(config.data.opensearch))


def heap_mib(memory_limit: str) -> int:
    """Half the memory limit in MiB, at most 31 GiB."""
    return min(parse_memory(memory_limit) // 2, MAX_HEAP) // MIB


def index_prefix(site: Site) -> str:
    return site.name


def operator_values(config: StackConfig) -> dict[str, Any]:
    """opensearch-operator 2.8.2 on the 2.8.0 image (explicit), watching its namespace; webhook certificate from cert-manager."""
    return {
        "manager": {
            "image": {"tag": versions.chart("opensearch-operator").app_version, "pullPolicy": "IfNotPresent"},
            "watchNamespace": NAMESPACE,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        },
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "installCRDs": True,
        "webhook": {"enabled": True, "certManager": {"enabled": True}},
    }


def security_config(admin_hash: str, metrics_hash: str) -> dict[str, str]:
    """The securityconfig files we replace (the others keep the plugin's defaults, without demo users)."""
    internal_users = {
        "_meta": {"type": "internalusers", "config_version": 2},
        ADMIN_USER: {"hash": admin_hash, "reserved": True, "backend_roles": ["admin"], "description": "platform admin (operator)"},
        metrics.USER: metrics.internal_user(metrics_hash),
    }
    config = {
        "_meta": {"type": "config", "config_version": 2},
        "config": {"dynamic": {
            "http": {"anonymous_auth_enabled": False},
            "authc": {"basic_internal_auth_domain": {
                "description": "HTTP basic against the internal users",
                "http_enabled": True, "transport_enabled": True, "order": 0,
                "http_authenticator": {"type": "basic", "challenge": True},
                "authentication_backend": {"type": "intern"},
            }},
        }},
    }
    return {"internal_users.yml": yaml.safe_dump(internal_users, sort_keys=False), "config.yml": yaml.safe_dump(config, sort_keys=False)}


def cluster_spec(config: StackConfig, failure_domains: int, target: BucketTarget | None) -> dict[str, Any]:
    """The OpenSearchCluster spec (schema: opensearch.opster.io/opensearchcluster_v1)."""
    search = config.data.opensearch
    nodes = config.replicas_for(search)
    heap = heap_mib(search.resources.memory_limit)
    general: dict[str, Any] = {
        "serviceName": CLUSTER,
        "version": versions.image("opensearch").tag,
        "image": versions.image("opensearch").ref,
        "httpPort": PORT,
        "setVMMaxMapCount": False,
        "drainDataNodes": True,
        # Renewed TLS files reloaded by the running nodes (search_transport.py).
        "additionalConfig": {"action.destructive_requires_name": "true", **metrics.SETTINGS, **search_transport.HOT_RELOAD},
        # The exporter plugin from its pinned URL and our own ServiceMonitor, not the operator's monitoring
        # (its ServiceMonitor cannot verify the operator's CA): components/data/opensearch_metrics.py.
        "pluginsList": [metrics.plugin_url()],
        "monitoring": {"enable": False},
    }
    if target is not None:
        endpoint = target.endpoint.removeprefix("https://").rstrip("/")
        general["pluginsList"].append("repository-s3")
        general["keystore"] = [{"secret": {"name": S3_SECRET}}]
        general["additionalConfig"] |= {
            "s3.client.default.endpoint": endpoint,
            "s3.client.default.protocol": "https",
            "s3.client.default.region": target.region,
            "s3.client.default.path_style_access": "true",
        }
        general["snapshotRepositories"] = [{
            "name": REPOSITORY, "type": "s3", "settings": {"bucket": target.bucket, "base_path": config.environment},
        }]
    witness = witness_manager(config)
    data_nodes = nodes - 1 if witness else nodes
    pool: dict[str, Any] = {
        "component": NODE_POOL,
        "replicas": data_nodes,
        "roles": ["cluster_manager", "data", "ingest"],
        "diskSize": search.storage,
        "jvm": f"-Xms{heap}m -Xmx{heap}m",
        "resources": search.resources.as_k8s(),
        "persistence": {"pvc": {"storageClass": config.storage.default_class, "accessModes": ["ReadWriteOnce"]}},
    }
    if data_nodes > 1:
        pool["affinity"] = anti_affinity(pod_labels(), required=True)
        pool["topologySpreadConstraints"] = spread_constraints(pod_labels(), failure_domains)
        pool["pdb"] = {"enable": True, "maxUnavailable": 1}
    pools = [pool]
    if witness:
        pools.append({
            "component": WITNESS_POOL,
            "replicas": 1,
            "roles": ["cluster_manager"],
            "jvm": "-Xms512m -Xmx512m",
            "resources": WITNESS_RESOURCES,
            "persistence": {"emptyDir": {"sizeLimit": "1Gi"}},
            "nodeSelector": {WITNESS_LABEL: "true"},
            "tolerations": [WITNESS_TOLERATION],
        })
    return {
        "general": general,
        "security": {
            "config": {
                "securityConfigSecret": {"name": SECURITY_CONFIG_SECRET},
                "adminCredentialsSecret": {"name": ADMIN_SECRET},
                "adminSecret": {"name": search_tls.ADMIN_SECRET},  # securityadmin's certificate (search_tls.py)
            },
            "tls": {"transport": transport_tls(CLUSTER, config.environment), "http": cluster_tls()},
        },
        "dashboards": {"enable": False, "version": versions.image("opensearch").tag, "replicas": 0},
        "nodePools": pools,
    }


def snapshot_policy_spec(config: StackConfig, keep_days: int) -> dict[str, Any]:
    hour, minute = config.data.opensearch.snapshots.time.split(":")
    cron = {"cron": {"expression": f"{int(minute)} {int(hour)} * * *", "timezone": "UTC"}}
    return {
        "opensearchCluster": CLUSTER_REF,
        "policyName": "daily",
        "description": f"daily snapshot of every index, kept {keep_days} days",
        "enabled": True,
        "snapshotConfig": {"repository": REPOSITORY, "indices": "*", "includeGlobalState": True, "partial": False},
        "creation": {"schedule": cron, "timeLimit": "1h"},
        "deletion": {"schedule": cron, "deleteCondition": {"maxAge": f"{keep_days}d", "minCount": MIN_SNAPSHOTS}},
    }


def site_role_spec(site: Site) -> dict[str, Any]:
    """What a store may do: everything on its own indices and aliases; at cluster level only ping, health and
    the multi-index requests (bulk, msearch, scroll), which are checked again per index. Not `cluster_monitor`:
    it includes the cluster state, which lists every store's indices and mappings."""
    return {
        "opensearchCluster": CLUSTER_REF,
        "clusterPermissions": ["cluster_composite_ops", "cluster:monitor/main", "cluster:monitor/health"],
        "indexPermissions": [{"indexPatterns": [f"{index_prefix(site)}_*"], "allowedActions": ["indices_all"]}],
    }


@dataclass(frozen=True)
class OpenSearchArgs:
    config: StackConfig
    failure_domains: int
    backup_target: BucketTarget | None
    allow_from: tuple[str, ...]


class OpenSearch(pulumi.ComponentResource):
    """The search service: operator, cluster, snapshots, and a user and role per store."""

    def __init__(self, name: str, args: OpenSearchArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:OpenSearch", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = kube.namespace(f"{name}-namespace", NAMESPACE, level="baseline", component="search", opts=child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        namespace_isolation(f"{name}-isolation", NAMESPACE, allow_from=args.allow_from, opts=in_ns)
        self.operator = kube.chart(
            f"{name}-operator", "opensearch-operator", namespace=NAMESPACE, values=operator_values(config), opts=in_ns
        )

        def secret(resource: str, object_name: str, data: dict[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
            return k8s.core.v1.Secret(
                resource,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=NAMESPACE, labels=kube.labels("search")),
                type="Opaque",
                string_data=data,
                opts=in_ns,
            )

        admin = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        scraper = random.RandomPassword(f"{name}-metrics-password", length=32, special=False, opts=child)
        hashes = pulumi.Output.all(admin.bcrypt_hash, scraper.bcrypt_hash)
        depends: list[pulumi.Resource] = [
            self.operator,
            secret(f"{name}-admin-credentials", ADMIN_SECRET, {"username": ADMIN_USER, "password": admin.result}),
            secret(f"{name}-securityconfig", SECURITY_CONFIG_SECRET, hashes.apply(lambda h: security_config(*h))),  # type: ignore[arg-type]
        ]
        # HTTP TLS from the program's CA (search_tls.py): `ca_cert` is what every store trusts.
        self.http_tls = SearchHttpTls(f"{name}-http-tls", config.environment, CLUSTER, NAMESPACE, self.namespace, CLUSTER, child)
        self.ca_cert = self.http_tls.ca_cert
        self.transport_tls = SearchTransportTls(f"{name}-transport-tls", config.environment, CLUSTER, NAMESPACE, self.namespace,
                                                CLUSTER, child)
        depends += [self.http_tls.ca_secret, self.http_tls.certificate, self.http_tls.admin_certificate,
                    self.transport_tls.ca_secret, self.transport_tls.certificate]
        target = args.backup_target
        if target is not None:
            depends.append(secret(f"{name}-s3-keystore", S3_SECRET, {
                "s3.client.default.access_key": target.access_key_id,
                "s3.client.default.secret_key": target.secret_access_key,
            }))
        self.cluster = kube.custom_object(
            f"{name}-cluster",
            "opensearch.opster.io/v1",
            "OpenSearchCluster",
            metadata={"name": CLUSTER, "namespace": NAMESPACE, "labels": kube.labels("search")},
            fields={"spec": cluster_spec(config, args.failure_domains, target)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends, protect=config.protect_stateful),
        )
        after_cluster = pulumi.ResourceOptions(parent=self, depends_on=[self.cluster])
        if target is not None:
            keep = config.data.opensearch.snapshots.keep_days or (config.backup.retention_days if config.backup else 30)
            kube.custom_object(
                f"{name}-snapshot-policy",
                "opensearch.opster.io/v1",
                "OpensearchSnapshotPolicy",
                metadata={"name": "daily-snapshots", "namespace": NAMESPACE, "labels": kube.labels("search")},
                fields={"spec": snapshot_policy_spec(config, keep)},
                opts=after_cluster,
            )
        self._metrics(name, secret, scraper, after_cluster, service_monitors(config))
        self.passwords: dict[str, pulumi.Output[str]] = {}
        for site in config.sites:
            self.passwords[site.name] = self._site(name, site, secret, after_cluster)
        self.register_outputs({"endpoint": f"https://{HOST}:{PORT}", "nodes": config.replicas_for(config.data.opensearch)})

    def _metrics(self, name: str, secret: Any, password: random.RandomPassword, after_cluster: pulumi.ResourceOptions,
                 monitored: bool) -> None:
        """The scraper's role (monitor actions only) mapped to its backend role; the ServiceMonitor when monitors are on.
        The user itself is in internal_users.yml: an OpensearchUser's name is its user name, in plain text."""
        credentials = secret(f"{name}-metrics-credentials", metrics.CREDENTIALS_SECRET,
                             {"username": metrics.USER, "password": pulumi.Output.secret(password.result)})
        meta = {"name": metrics.ROLE, "namespace": NAMESPACE, "labels": kube.labels("search")}
        kube.custom_object(f"{name}-metrics-role", "opensearch.opster.io/v1", "OpensearchRole",
                           metadata=meta, fields={"spec": metrics.role_spec(CLUSTER_REF)}, opts=after_cluster)
        kube.custom_object(f"{name}-metrics-binding", "opensearch.opster.io/v1", "OpensearchUserRoleBinding", metadata=meta,
                           fields={"spec": {"opensearchCluster": CLUSTER_REF, "backendRoles": [metrics.ROLE], "roles": [metrics.ROLE]}},
                           opts=after_cluster)
        if monitored:
            kube.custom_object(
                f"{name}-metrics-monitor", "monitoring.coreos.com/v1", "ServiceMonitor",
                metadata={"name": metrics.SERVICEMONITOR, "namespace": NAMESPACE, "labels": kube.labels("search")},
                fields={"spec": metrics.servicemonitor_spec(CLUSTER, NAMESPACE)},
                opts=pulumi.ResourceOptions.merge(after_cluster, pulumi.ResourceOptions(depends_on=[credentials])),
            )

    def _site(self, name: str, site: Site, secret: Any, after_cluster: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """The store's user (password from pulumi-random), its role on `<site>_*` and the binding between them."""
        object_name = f"site-{site.name}"
        password = random.RandomPassword(f"{name}-{site.name}-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        credentials = secret(f"{name}-{site.name}-credentials", f"{object_name}-search", {"password": password.result})
        with_secret = pulumi.ResourceOptions.merge(after_cluster, pulumi.ResourceOptions(depends_on=[credentials]))
        meta = {"name": object_name, "namespace": NAMESPACE, "labels": kube.labels("search", **{"magento.io/site": site.name})}
        kube.custom_object(f"{name}-{site.name}-role", "opensearch.opster.io/v1", "OpensearchRole",
                           metadata=meta, fields={"spec": site_role_spec(site)}, opts=after_cluster)
        kube.custom_object(f"{name}-{site.name}-user", "opensearch.opster.io/v1", "OpensearchUser", metadata=meta, fields={"spec": {
            "opensearchCluster": CLUSTER_REF,
            "passwordFrom": {"name": f"{object_name}-search", "key": "password"},
            "backendRoles": [],
        }}, opts=with_secret)
        # A replica of every shard on another data node, whatever Magento asks when it creates an index
        # (auto-expand: none on one node, one from two nodes on).
        kube.custom_object(f"{name}-{site.name}-index-template", "opensearch.opster.io/v1", "OpensearchIndexTemplate",
                           metadata=meta, fields={"spec": {
                               "opensearchCluster": CLUSTER_REF,
                               "name": object_name,
                               "indexPatterns": [f"{index_prefix(site)}_*"],
                               "priority": 10,
                               "template": {"settings": {"index.auto_expand_replicas": "0-1"}},
                           }}, opts=after_cluster)
        kube.custom_object(f"{name}-{site.name}-binding", "opensearch.opster.io/v1", "OpensearchUserRoleBinding",
                           metadata=meta, fields={"spec": {"opensearchCluster": CLUSTER_REF, "users": [object_name], "roles": [object_name]}},
                           opts=after_cluster)
        return pulumi.Output.secret(password.result)
