"""OpenSearch metrics: the prometheus-exporter plugin on every node, a monitoring user limited to monitor
actions, and our ServiceMonitor, which verifies the nodes' HTTP certificate.

* **Plugin**: prometheus-exporter 2.19.3.0 (components/versions.py `PLUGINS`), which must match OpenSearch
  2.19.3 exactly; it serves `/_prometheus/metrics` with `opensearch_*` names (cluster health:
  `opensearch_cluster_status` 0 green / 1 yellow / 2 red, `opensearch_cluster_nodes_number`; per node
  `opensearch_jvm_mem_heap_used_percent`, `opensearch_fs_path_{available,total}_bytes`). The operator installs
  it at pod start with `opensearch-plugin install <url>` (general.pluginsList), which needs egress to
  github.com and its release-asset host: the data namespaces have no egress policy (components/network_policy.py
  isolates inbound only); a cluster without egress bakes the plugin into the image instead.
* **Index metrics off** (`prometheus.indices: false`): per-index series for every store's indices would grow
  with the stores and no rule or dashboard reads them. Each node reports itself (`prometheus.nodes.filter`
  stays `_local`), so Prometheus scrapes every node.
* **Not the operator's `general.monitoring`**: operator 2.8.0 builds its ServiceMonitor with a TLS config of
  `serverName` and `insecureSkipVerify` only (pkg/builders/cluster.go NewServiceMonitor), so against the
  operator's own CA Prometheus either fails verification or skips it, and it authenticates as the admin
  unless a user Secret is named. Ours reads the CA from the HTTP certificate Secret that
  cert-manager writes (`opensearch-http-tls`, key `ca.crt`: the program's CA, search_tls.py; the certificate
  names `<cluster>.<namespace>.svc`) and a user of its own.
* **Monitoring user**: `prometheus-scraper` in our `internal_users.yml` (bcrypt hash of a pulumi-random
  password, whose clear text is in Secret `opensearch-metrics-credentials` for the ServiceMonitor), backend
  role `platform-metrics`, which an OpensearchUserRoleBinding maps to OpensearchRole `platform-metrics`:
  `cluster_monitor` and `indices_monitor` on every index. The plugin's REST action is
  `cluster:monitor/prometheus/metrics`; it then reads cluster health, node stats and cluster settings
  (`cluster:monitor/*`). It sees index names and stats, no documents. Not an OpensearchUser: its object name
  would be the user name, and the user name is a Secret value the ServiceMonitor reads.
* **Always on the nodes, scraped when monitors are on**: the plugin list is part of the node pods' start
  command (changing it rolls every node); only the ServiceMonitor follows `platform.observability.serviceMonitors`.
"""

from __future__ import annotations

from typing import Any

from components import versions
from components.data.search_tls import HTTP_SECRET

PATH = "/_prometheus/metrics"
# The scraper's user name is a Secret value (the ServiceMonitor's basicAuth reads it from a Secret), so it
# appears in no plain field: no OpensearchUser (whose object name is the user name), and no object is named so.
USER = "prometheus-scraper"
ROLE = "platform-metrics"  # OpensearchRole, its OpensearchUserRoleBinding and the user's backend role
CREDENTIALS_SECRET = "opensearch-metrics-credentials"
SERVICEMONITOR = "opensearch-metrics"
SCRAPE_INTERVAL = "30s"
SETTINGS = {"prometheus.indices": "false"}
NODEPOOL_LABEL = "opster.io/opensearch-nodepool"
CLUSTER_LABEL = "opster.io/opensearch-cluster"


def plugin_url() -> str:
    return versions.plugin("opensearch-prometheus-exporter").url


def http_cert_secret(cluster: str) -> str:
    """The HTTP certificate Secret the cluster serves (search_tls.py: cert-manager writes tls.crt, tls.key and the
    signing CA, the program's own, as ca.crt). `cluster` is kept for the call sites; the name is fixed."""
    del cluster
    return HTTP_SECRET


def internal_user(bcrypt_hash: str) -> dict[str, Any]:
    """The scraper in internal_users.yml (reserved: the REST API cannot change it), mapped by backend role."""
    return {"hash": bcrypt_hash, "reserved": True, "backend_roles": [ROLE],
            "description": "Prometheus (ServiceMonitor opensearch-metrics), monitor actions only"}


def role_spec(cluster_ref: dict[str, str]) -> dict[str, Any]:
    return {
        "opensearchCluster": cluster_ref,
        "clusterPermissions": ["cluster_monitor"],
        "indexPermissions": [{"indexPatterns": ["*"], "allowedActions": ["indices_monitor"]}],
    }


def servicemonitor_spec(cluster: str, namespace: str) -> dict[str, Any]:
    """Every node pool's headless Service (port `http`), over HTTPS verified against the program's
    HTTP CA (`ca.crt` of the HTTP certificate's Secret, components/data/search_tls.py)."""
    credential = {"name": CREDENTIALS_SECRET}
    return {
        "selector": {
            "matchLabels": {CLUSTER_LABEL: cluster},
            # only the per-pool Services: the cluster Service selects the same pods (double scrapes)
            "matchExpressions": [{"key": NODEPOOL_LABEL, "operator": "Exists"}],
        },
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [{
            "port": "http",
            "path": PATH,
            "scheme": "https",
            "interval": SCRAPE_INTERVAL,
            "basicAuth": {"username": {**credential, "key": "username"}, "password": {**credential, "key": "password"}},
            "tlsConfig": {
                "ca": {"secret": {"name": http_cert_secret(cluster), "key": "ca.crt"}},
                "serverName": f"{cluster}.{namespace}.svc",
            },
        }],
    }
