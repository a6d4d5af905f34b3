"""The pack's defaults, reviewed like code: every namespace-wide exemption carries its reason.

These are the JSON-schema defaults of the policies' configuration (what `pulumi preview` applies when
no `--policy-pack-config` is given) and the values the policies fall back to when a key is absent
(the offline check calls the analyzer directly, without the CLI's schema defaults). A configured key
replaces its default, as the CLI does.
"""

from __future__ import annotations

# Labels and names this program gives its own objects (components/k8s.py, sites/tenancy.py).
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "magento-platform"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SITE_NAMESPACE_PREFIX = "site-"

# Namespaces whose workloads may use the host (privileged, host namespaces, hostPath, added
# capabilities) and run without the restricted security context. Only third-party agents that
# cannot work otherwise belong here; a chart that needs host access in another namespace must be
# added with its reason, in review.
SYSTEM_NAMESPACES: dict[str, str] = {
    "kube-system": (
        "Cilium agent, node-init and envoy (networking layer) are privileged host-network DaemonSets that mount "
        "/sys/fs/bpf, /run/cilium and the CNI directories; kubeadm's static control plane lives here too"
    ),
    "metallb-system": (
        "MetalLB speaker (networking layer) runs on the host network with NET_RAW to answer ARP for "
        "LoadBalancer addresses on the public interface"
    ),
    "kubearmor": (
        "KubeArmor agent (platform layer) is a privileged host-PID DaemonSet that loads AppArmor/BPF-LSM profiles "
        "and mounts /sys/kernel/security and the container runtime socket to enforce per-pod runtime policy"
    ),
    "velero": (
        "Velero node agent (platform layer) mounts /var/lib/kubelet/pods and plugins (hostPath) as root to read "
        "volume data for the data mover; the Velero server itself runs restricted"
    ),
    "monitoring-node": (
        "Prometheus node exporter (platform layer) runs on the host network and PID namespace and mounts /, /proc and "
        "/sys read-only to report the node's CPU, memory, filesystems and ZFS pools; nothing else runs here"
    ),
    "etcd-backup": (
        "etcd snapshot CronJob (platform layer, components/platform/etcd_backup) runs on a control plane's host "
        "network to reach its etcd member on 127.0.0.1:2379 and reads the etcd client key (hostPath, read-only, "
        "mode 0600) as root; no capability, read-only root filesystem"
    ),
    "openebs": (
        "LocalPV-ZFS node plugin (storage layer) is privileged and mounts /dev and the kubelet directories "
        "to create and mount ZFS datasets on the node's pool"
    ),
}

# Namespaces where a Service of type LoadBalancer may exist: the shared Gateway's data plane.
EDGE_NAMESPACES: list[str] = ["edge", "envoy-gateway-system"]

# Registries images may come from; the same default as components/config/model.py Platform.allowedRegistries
# (the offline check passes the stack's own list; tests keep the two equal).
ALLOWED_REGISTRIES: list[str] = ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"]

# Image repositories that are never allowed, whatever the registry: Bitnami's free catalog was frozen in 2025.
DENIED_IMAGE_PATTERNS: list[str] = ["bitnami/", "bitnamilegacy/", "bitnamisecure/", "bitnamicharts/"]

# Capabilities a container may add (the Pod Security "restricted" profile allows only this one).
ALLOWED_ADDED_CAPABILITIES: list[str] = ["NET_BIND_SERVICE"]

# Reviewed exceptions for single objects, by policy name. Each entry names the object (namespace, and
# optionally name and kind, globs allowed) and says why it is exempt, who reviewed it and until when.
# This table is the `exceptions` default of each policy, so it applies to `make plan` and to
# `pulumi preview --policy-pack policy` alike. Example:
#   "workload-read-only-root-filesystem": [
#       {"namespace": "site-*", "name": "legacy-importer", "kind": "CronJob",
#        "reason": "vendor importer writes to /tmp in its image; fix tracked in issue 42 (reviewed by ops, until 2027-03)"},
#   ],
REVIEWED_EXCEPTIONS: dict[str, list[dict[str, str]]] = {
    # Chart workloads whose images expose no endpoint a probe could use, or only metrics: each reviewed
    # when the chart rendering made the probes policy cover chart objects (issue 8, 2026-12).
    "workload-probes": [
        {"namespace": "velero", "name": "node-agent", "kind": "DaemonSet",
         "reason": "velero 12.1.0's node-agent template has no probe values and the agent serves only metrics; a dead "
                   "agent fails the data-mover step of the volumes backup, which the backup-age alerts catch "
                   "(reviewed: platform team, issue 12)"},
        {"namespace": "kyverno", "name": "kyverno-background-controller", "kind": "Deployment",
         "reason": "kyverno 3.9.0's background controller template has no probe values; its only port is metrics, it is "
                   "leader-elected, and a stuck controller shows as policy reports not updating (reviewed: platform team, issue 12)"},
        {"namespace": "kyverno", "name": "kyverno-reports-controller", "kind": "Deployment",
         "reason": "kyverno 3.9.0's reports controller template has no probe values; metrics port only, leader-elected "
                   "(reviewed: platform team, issue 12)"},
        {"namespace": "argocd", "name": "argo-cd-argocd-application-controller", "kind": "StatefulSet",
         "reason": "argo-cd 10.1.1 offers only a readiness probe for the application controller (/healthz); a liveness "
                   "probe on the same endpoint would restart it during long reconciliations (reviewed: platform team, issue 12)"},
        {"namespace": "kubearmor", "name": "kubearmor-operator", "kind": "Deployment",
         "reason": "the kubearmor-operator v1.7.4 chart has no probe values and the operator serves no health endpoint; "
                   "a failed operator shows as KubeArmorConfig status not Running (reviewed: platform team, issue 12)"},
        {"namespace": "cert-manager", "name": "cert-manager", "kind": "Deployment",
         "reason": "controller ports are metrics (9402) and health (9403) only, no Service sends it traffic; it is "
                   "leader-elected and liveness-probed on /livez (reviewed: platform team, issue 8)"},
        {"namespace": "cert-manager", "name": "cert-manager-cainjector", "kind": "Deployment",
         "reason": "cert-manager 1.21's CA injector serves only metrics and has no health endpoint; a stuck injector shows "
                   "as webhook CA bundles not renewed, caught by the certificate-expiry alerts (reviewed: platform team, issue 8)"},
        {"namespace": "kube-system", "name": "hubble-ui", "kind": "Deployment",
         "reason": "the Hubble UI backend container has no health endpoint; the frontend container of the same pod is "
                   "probed and proxies to it; the UI is an optional operator tool (reviewed: platform team, issue 8)"},
        {"namespace": "kube-system", "name": "kubelet-csr-approver", "kind": "Deployment",
         "reason": "its only port is metrics (8080), no Service sends it traffic; leader-elected and liveness-probed on "
                   "/healthz (reviewed: platform team, issue 8)"},
        {"namespace": "mysql", "name": "mysql-operator-pxc-operator", "kind": "Deployment",
         "reason": "pxc-operator 1.20.0's only port is metrics (8080), no Service sends it traffic; it is leader-elected "
                   "and liveness-probed on /metrics, and the chart has no readinessProbe value (reviewed: data team, issue 10)"},
        {"namespace": "openebs", "name": "zfs-localpv-*",
         "reason": "zfs-localpv 2.6.2 ships no probes and no CSI livenessprobe sidecar for its plugin and sidecars; "
                   "failures surface as failed provisioning and mount operations, which the storage alerts watch "
                   "(reviewed: platform team, issue 8)"},
        {"namespace": "site-*", "name": "consumer-*", "kind": "Deployment",
         "reason": "a Magento queue consumer serves no port and has no health endpoint; its pod's PID 1 is "
                   "sites/scripts/consumers.sh, which restarts each consumer when it exits, and a stuck consumer shows "
                   "as queue depth that KEDA scales on and the queue alerts watch (reviewed: sites team, issue 11)"},
    ],
    "no-plaintext-secrets": [
        {"namespace": "site-*", "name": "waf-settings", "kind": "ConfigMap",
         "reason": "SERVER_TOKENS is the OWASP CRS image's switch for nginx `server_tokens` (off: no version in "
                   "responses), not a credential; the WAF settings hold no secret (reviewed: sites team, issue 11)"},
    ],
}
