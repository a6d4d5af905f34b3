"""Which exporter produces which metric, where each is documented, and what deploys it.

Every metric an alert rule (rules/) or a dashboard (dashboards/) names must be listed here under the
exporter that produces it; tests/test_observability_queries.py checks that, and that each exporter is
deployed by the program: `scraped_by` names an object (kind, name glob) or an image the recorded program
registers. Exporters whose owner has not deployed them yet are listed in AWAITING with that owner, so that
a gap is explicit and the test fails as soon as the exporter appears (move it out of AWAITING then).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exporter:
    documented: str  # where the metric names are documented
    deployed_by: str  # the component that runs or scrapes it
    scraped_by: tuple[str, str]  # ("image", prefix) or (kind, object-name glob) the recording must hold
    metrics: frozenset[str]


def _m(*names: str) -> frozenset[str]:
    return frozenset(names)


EXPORTERS: dict[str, Exporter] = {
    "node-exporter": Exporter(
        "https://github.com/prometheus/node_exporter#collectors (cpu, meminfo, loadavg, filesystem, netdev, zfs: "
        "collector/zfs_linux.go reads /proc/spl/kstat/zfs/arcstats and <pool>/state)",
        "kube-prometheus-stack (prometheus-node-exporter 4.56.1)",
        ("image", "quay.io/prometheus/node-exporter"),
        _m("node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
           "node_load15", "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_network_receive_bytes_total",
           "node_network_transmit_bytes_total", "node_disk_io_time_seconds_total", "node_zfs_zpool_state",
           "node_zfs_arc_size", "node_zfs_arc_c_max", "node_zfs_arc_hits", "node_zfs_arc_misses",
           "node_textfile_mtime_seconds"),
    ),
    "host-health": Exporter(
        "hosts/files/magento-host-health.sh (certificates: openssl x509 -enddate; NVMe: smartctl -j -a, "
        "https://www.smartmontools.org/wiki/JSON) and hosts/files/all-magento-metrics.sh (ZED zedlet, zed(8)); "
        "docs/observability.md#host-health-metrics",
        "the hosts layer's 10-baseline stage (magento-host-health.timer, the ZED zedlet), files read by node exporter's "
        "textfile collector (--collector.textfile.directory, prometheus.py)",
        ("image", "quay.io/prometheus/node-exporter"),
        _m("magento_certificate_not_after_timestamp_seconds", "magento_certificate_read_errors",
           "magento_nvme_critical_warning", "magento_nvme_percentage_used_ratio", "magento_nvme_available_spare_ratio",
           "magento_nvme_available_spare_threshold_ratio", "magento_nvme_media_errors_total",
           "magento_nvme_temperature_celsius", "magento_nvme_read_errors", "magento_zfs_events_total"),
    ),
    "kube-state-metrics": Exporter(
        "https://github.com/kubernetes/kube-state-metrics/tree/main/docs/metrics (workload/, cronjob, pod, node)",
        "kube-prometheus-stack (kube-state-metrics 8.4.0)",
        ("image", "registry.k8s.io/kube-state-metrics/kube-state-metrics"),
        _m("kube_deployment_spec_replicas", "kube_deployment_status_replicas_available",
           "kube_pod_container_status_restarts_total", "kube_node_status_condition", "kube_pod_status_phase",
           "kube_cronjob_status_last_successful_time", "kube_statefulset_status_replicas_ready",
           "kube_statefulset_replicas"),
    ),
    "kubelet": Exporter(
        "https://kubernetes.io/docs/reference/instrumentation/metrics/ (kubelet_volume_stats_*, cAdvisor container_*)",
        "the kubelet of every node, scraped by kube-prometheus-stack's kubelet ServiceMonitor",
        ("ServiceMonitor", "kps-kubelet"),
        _m("kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes",
           "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"),
    ),
    "apiserver": Exporter(
        "https://kubernetes.io/docs/reference/instrumentation/metrics/ (apiserver_*)",
        "the API servers, scraped by kube-prometheus-stack's apiserver ServiceMonitor",
        ("ServiceMonitor", "kps-apiserver"),
        _m("apiserver_request_total", "apiserver_client_certificate_expiration_seconds_bucket",
           "apiserver_client_certificate_expiration_seconds_count"),
    ),
    "secrets-store": Exporter(
        "https://openbao.org/docs/internals/telemetry/metrics/core-system (vault.core.active, vault.core.handle_request; "
        "OpenBao keeps Vault's vault_ prefix: https://openbao.org/api-docs/system/metrics)",
        "the openbao (or vault) chart's ServiceMonitor (serverTelemetry.serviceMonitor, components/platform/secrets.py)",
        ("ServiceMonitor", "openbao"),
        _m("vault_core_active", "vault_core_handle_request"),
    ),
    "etcd": Exporter(
        "https://etcd.io/docs/v3.6/metrics/ (etcd_server_*, etcd_disk_*, etcd_mvcc_*)",
        "etcd on the control-plane nodes (metrics on each node's private address, hosts/kubeadm.py), scraped by "
        "kube-prometheus-stack's kube-etcd ServiceMonitor (prometheus.py control_plane_scrapes)",
        ("ServiceMonitor", "kps-kube-etcd"),
        _m("etcd_server_has_leader", "etcd_server_leader_changes_seen_total", "etcd_mvcc_db_total_size_in_bytes",
           "etcd_server_quota_backend_bytes", "etcd_disk_wal_fsync_duration_seconds_bucket"),
    ),
    "cert-manager": Exporter(
        "https://cert-manager.io/docs/devops-tips/prometheus-metrics/",
        "cert-manager (edge layer), its chart's ServiceMonitor",
        ("ServiceMonitor", "cert-manager"),
        _m("certmanager_certificate_expiration_timestamp_seconds", "certmanager_certificate_ready_status"),
    ),
    "envoy": Exporter(
        "https://www.envoyproxy.io/docs/envoy/latest/configuration/upstream/cluster_manager/cluster_stats "
        "(upstream_rq_<code> with the envoy_response_code tag)",
        "Envoy Gateway's proxies (edge layer), the edge layer's PodMonitor",
        ("PodMonitor", "envoy-proxy"),
        _m("envoy_cluster_upstream_rq"),
    ),
    "mysqld-exporter": Exporter(
        "https://github.com/prometheus/mysqld_exporter (collector/global_status.go: every numeric SHOW GLOBAL STATUS "
        "variable as mysql_global_status_<name>, Galera's wsrep_* included; global_variables.go: mysql_global_variables_*)",
        "the data layer's PXC cluster (a mysqld_exporter sidecar in each PXC pod, components/data/pxc_exporter.py)",
        ("PodMonitor", "mysql-exporter"),
        _m("mysql_up", "mysql_global_status_wsrep_cluster_size", "mysql_global_status_wsrep_local_state",
           "mysql_global_status_wsrep_flow_control_paused_ns", "mysql_global_status_threads_connected",
           "mysql_global_variables_max_connections", "mysql_global_status_queries"),
    ),
    "opensearch-exporter": Exporter(
        "https://github.com/opensearch-project/opensearch-prometheus-exporter (formerly Aiven-Open/prometheus-exporter-"
        "plugin-for-opensearch; PrometheusMetricsCollector.java registers cluster_status, cluster_nodes_number, "
        "jvm_mem_heap_used_percent, fs_path_*_bytes under the `opensearch_` prefix)",
        "the data layer's OpenSearch nodes (prometheus-exporter plugin 2.19.3.0, components/data/opensearch_metrics.py)",
        ("ServiceMonitor", "opensearch-metrics"),
        _m("opensearch_cluster_status", "opensearch_cluster_nodes_number", "opensearch_fs_path_available_bytes",
           "opensearch_fs_path_total_bytes", "opensearch_jvm_mem_heap_used_percent"),
    ),
    "rabbitmq": Exporter(
        "https://www.rabbitmq.com/docs/prometheus (rabbitmq_prometheus plugin; /metrics/detailed?family=queue_coarse_metrics"
        "&family=queue_consumer_count gives rabbitmq_detailed_queue_*)",
        "the data layer's RabbitmqCluster, its ServiceMonitor (both endpoints)",
        ("ServiceMonitor", "*rabbitmq*"),
        _m("rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
           "rabbitmq_detailed_queue_consumers", "rabbitmq_alarms_memory_used_watermark"),
    ),
    "redis-exporter": Exporter(
        "https://github.com/oliver006/redis_exporter#whats-exported",
        "the data layer's Valkey instances (the valkey chart's metrics exporter)",
        ("image", "*oliver006/redis_exporter:*"),
        _m("redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients",
           "redis_rejected_connections_total", "redis_keyspace_hits_total", "redis_keyspace_misses_total",
           "redis_evicted_keys_total"),
    ),
    "varnish-exporter": Exporter(
        "https://github.com/otto-de/prometheus_varnish_exporter (jonnenauha's exporter, maintained fork: "
        "varnishstat MAIN.* as varnish_main_*)",
        "the sites layer's Varnish pods (sites/exporters.py: sidecar on the shared workdir, PodMonitor site-metrics)",
        ("image", "*/prometheus-varnish-exporter:*"),
        _m("varnish_main_cache_hit", "varnish_main_cache_miss", "varnish_main_backend_fail", "varnish_main_n_lru_nuked"),
    ),
    "php-fpm-exporter": Exporter(
        "https://github.com/hipages/php-fpm_exporter#metrics-collected",
        "the sites layer's PHP-FPM pods (sites/exporters.py: sidecar on pm.status_listen, PodMonitor site-metrics)",
        ("image", "*/php-fpm_exporter:*"),
        _m("phpfpm_active_processes", "phpfpm_total_processes", "phpfpm_max_children_reached",
           "phpfpm_listen_queue", "phpfpm_slow_requests"),
    ),
    "nginx-exporter": Exporter(
        "https://github.com/nginx/nginx-prometheus-exporter#metrics-for-nginx-oss (stub_status)",
        "the sites layer's nginx pods (sites/exporters.py: sidecar on the loopback stub_status, PodMonitor site-metrics)",
        ("image", "*/nginx-prometheus-exporter:*"),
        _m("nginx_up", "nginx_connections_active", "nginx_http_requests_total"),
    ),
    "velero": Exporter(
        "https://velero.io/docs/main/ (server metrics: velero_backup_*; pkg/metrics/metrics.go)",
        "the platform layer's Velero (cluster_backups.py: metrics and a ServiceMonitor)",
        ("image", "*velero/velero:*"),
        _m("velero_backup_last_successful_timestamp", "velero_backup_failure_total"),
    ),
}

# Exporters another engineer's layer is to deploy, and who: the test requires exactly these to be missing.
AWAITING: dict[str, str] = {}  # every exporter the rules and dashboards read is deployed


def owner_of(metric: str) -> str | None:
    for name, exporter in EXPORTERS.items():
        if metric in exporter.metrics:
            return name
    return None
