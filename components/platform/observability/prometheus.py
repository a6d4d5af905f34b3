"""kube-prometheus-stack: the Prometheus Operator, Prometheus, Alertmanager, kube-state-metrics, node exporter.

Two charts from the same pin: `monitoring-crds` (the operator's CRDs only, installed before the networking
layer so that every layer's ServiceMonitors and PodMonitors apply on the first `up`) and
`kube-prometheus-stack` (everything else, `crds.enabled: false`). Grafana is its own chart (grafana.py).
The operator's admission webhook gets its certificate from cert-manager (the chart's certificate Jobs are
Helm hooks, which the provider never runs). Alertmanager reads its configuration from a Secret this
program writes (alertmanager.py), so no random or plain-text secret is ever in the chart's values.
"""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.placement import replicas, spread_constraints
from components.platform.observability.common import (
    ALERTMANAGER_URL,
    KPS_NAME,
    NODE_EXPORTER_NAMESPACE,
    retention_size,
    storage_class,
)
from hosts.stages import TEXTFILE_DIR  # where the hosts layer writes the host health metrics

PROMETHEUS_LABELS = {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": f"{KPS_NAME}-prometheus"}
ALERTMANAGER_LABELS = {"app.kubernetes.io/name": "alertmanager", "alertmanager": f"{KPS_NAME}-alertmanager"}

# Every kube-prometheus-stack component off: what is left is the crds subchart.
_EVERYTHING_OFF: dict[str, Any] = {
    "defaultRules": {"create": False},
    "alertmanager": {"enabled": False},
    "grafana": {"enabled": False},
    "kubernetesServiceMonitors": {"enabled": False},
    "kubeStateMetrics": {"enabled": False},
    "nodeExporter": {"enabled": False},
    "prometheusOperator": {"enabled": False},
    "prometheus": {"enabled": False},
    "windowsMonitoring": {"enabled": False},
}


def crds_values() -> dict[str, Any]:
    """The Prometheus Operator CRDs alone (monitoring.coreos.com: ServiceMonitor, PodMonitor, PrometheusRule, ...)."""
    return {"crds": {"enabled": True}, **_EVERYTHING_OFF}


def _volume(config: StackConfig, size: str) -> dict[str, Any]:
    return {"volumeClaimTemplate": {"spec": {
        "storageClassName": storage_class(config),
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }}}


def _pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000,
            "seccompProfile": {"type": "RuntimeDefault"}}


def control_plane_scrapes() -> dict[str, Any]:
    """etcd, kube-controller-manager and kube-scheduler scraped where kubeadm runs them: the chart's Services select
    the static pods (its default selector `component: <name>` is kubeadm's label; host network, so the pod IP is the
    node's private address the hosts layer binds them to: hosts/kubeadm.py). etcd serves plain-HTTP metrics on 2381; the other two serve HTTPS
    on 10257/10259 with a self-signed certificate and authorise the scrape with Prometheus' token (its ClusterRole
    may GET /metrics), hence insecureSkipVerify as the chart documents for them."""
    def secure(port: int) -> dict[str, Any]:
        return {
            "enabled": True,
            "service": {"enabled": True, "port": port, "targetPort": port},
            "serviceMonitor": {"enabled": True, "https": True, "insecureSkipVerify": True},
        }

    return {
        "kubeEtcd": {
            "enabled": True,
            "service": {"enabled": True, "port": 2381, "targetPort": 2381},
            "serviceMonitor": {"enabled": True, "scheme": "http"},
        },
        "kubeControllerManager": secure(10257),
        "kubeScheduler": secure(10259),
    }


def kube_prometheus_stack_values(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    obs = config.platform.observability
    res = obs.resources
    count = replicas(failure_domains)
    kube_proxy_replaced = config.cluster.control_plane_endpoint is not None  # Cilium replaces kube-proxy then
    return {
        "fullnameOverride": KPS_NAME,
        "crds": {"enabled": False},  # the monitoring-crds chart owns them
        "windowsMonitoring": {"enabled": False},
        "grafana": {"enabled": False, "forceDeployDatasources": False, "forceDeployDashboards": False},
        # The chart's own rules (Kubernetes, node, etcd, Alertmanager, Prometheus); ours are in rules/.
        "defaultRules": {"create": True, "rules": {"kubeProxy": not kube_proxy_replaced, "windows": False}},
        "kubeProxy": {"enabled": not kube_proxy_replaced},
        **control_plane_scrapes(),
        "prometheusOperator": {
            "resources": res.operator.as_k8s(),
            "admissionWebhooks": {
                "patch": {"enabled": False},
                "certManager": {"enabled": True},
            },
            "prometheusConfigReloader": {"resources": res.config_reloader.as_k8s()},
        },
        "prometheus": {
            "podDisruptionBudget": {"enabled": count > 1, "minAvailable": 1},
            "prometheusSpec": {
                "replicas": count,
                "retention": f"{obs.retention_days}d",
                "retentionSize": retention_size(obs.prometheus_storage),
                "storageSpec": _volume(config, obs.prometheus_storage),
                "resources": res.prometheus.as_k8s(),
                "externalLabels": {"environment": config.environment},
                # Select every ServiceMonitor, PodMonitor, Probe and PrometheusRule in the cluster, not only the chart's.
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                "podAntiAffinity": "soft",
                "topologySpreadConstraints": spread_constraints(PROMETHEUS_LABELS, failure_domains) if count > 1 else [],
                "securityContext": _pod_security(),
            },
        },
        "alertmanager": {
            "podDisruptionBudget": {"enabled": count > 1, "minAvailable": 1},
            "alertmanagerSpec": {
                "replicas": count,
                "useExistingSecret": True,  # Secret alertmanager-kps-alertmanager, written by alertmanager.py
                "storage": _volume(config, obs.alertmanager_storage),
                "resources": res.alertmanager.as_k8s(),
                "externalUrl": ALERTMANAGER_URL,
                "podAntiAffinity": "soft",
                "topologySpreadConstraints": spread_constraints(ALERTMANAGER_LABELS, failure_domains) if count > 1 else [],
                "securityContext": _pod_security(),
            },
        },
        "kube-state-metrics": {"resources": res.kube_state_metrics.as_k8s()},
        "prometheus-node-exporter": {
            "namespaceOverride": NODE_EXPORTER_NAMESPACE,
            "resources": res.node_exporter.as_k8s(),
            # ZFS pool state and ARC (node_zfs_*) are read from /proc/spl/kstat/zfs by the default collectors.
            **node_exporter_textfile(),
        },
    }


# kube-prometheus-stack 88.5.3's own extraArgs for the subchart (its values.yaml, `prometheus-node-exporter.extraArgs`):
# a list in the values replaces the chart's list, so they are repeated here beside the textfile directory.
_KPS_NODE_EXPORTER_ARGS = [
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/containerd/.+|var/lib/docker/.+|var/lib/kubelet/.+)($|/)",
    "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    "|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs|erofs)$",
]


def node_exporter_textfile() -> dict[str, Any]:
    """The textfile collector reads the host health metrics the hosts layer writes (hosts/files: certificate
    expiry, NVMe SMART, ZFS events), from the host directory mounted read-only at the same path.
    DirectoryOrCreate: on a cluster this program did not bootstrap (cluster.mode existing) the pod still starts."""
    return {
        "extraArgs": [*_KPS_NODE_EXPORTER_ARGS, f"--collector.textfile.directory={TEXTFILE_DIR}"],
        "extraHostVolumeMounts": [{
            "name": "textfile", "hostPath": TEXTFILE_DIR, "mountPath": TEXTFILE_DIR, "readOnly": True,
            "type": "DirectoryOrCreate",
        }],
    }
