"""The kubeadm configuration files, rendered from the stack configuration.

`kubeadm.k8s.io/v1beta4` InitConfiguration + ClusterConfiguration for the first control plane, a
JoinConfiguration template for every other host (its secrets are placeholders the join script fills
in from stdin), and one KubeletConfiguration for the cluster plus a per-host patch: the reservations
of a host include its own ZFS ARC cap, which differs per server, so it is a kubeadm patch
(`/etc/kubernetes/magento/patches`) that init, join and upgrade all apply.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import yaml

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings
from components.config.types import parse_quantity
from hosts import apiserver

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
PATCHES_DIR = "/etc/kubernetes/magento/patches"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
API_PORT = 6443
WITNESS_TAINT = "magento.io/witness"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"

# Metrics of etcd, kube-controller-manager and kube-scheduler: served on the node's private (vRack) address, where
# kube-prometheus-stack's ServiceMonitors scrape them (kubeadm's defaults are 127.0.0.1 only). The address is the
# one the kubelet registers (`--node-ip`), passed to each static pod as status.hostIP: the ClusterConfiguration is
# shared by every control plane, so no host's own address may be written into it.
ETCD_METRICS_PORT = 2381
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
METRICS_PORTS = (ETCD_METRICS_PORT, CONTROLLER_MANAGER_PORT, SCHEDULER_PORT)
NODE_IP_ENV = "MAGENTO_NODE_IP"
COMPONENT_PORTS = {"kube-controller-manager": CONTROLLER_MANAGER_PORT, "kube-scheduler": SCHEDULER_PORT}

# Placeholders of the join template, replaced in memory by 60-kubeadm-join.sh.
TOKEN = "@@TOKEN@@"
CA_CERT_HASH = "@@CA_CERT_HASH@@"
CERTIFICATE_KEY = "@@CERTIFICATE_KEY@@"


def _dump(documents: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in documents)


def _mebibytes(quantity: str) -> int:
    return int(parse_quantity(quantity) / Decimal(2**20))


def taints(host: HostSettings) -> list[dict[str, str]]:
    """Registration taints: control planes that are not workers keep the control-plane taint; a
    witness carries only the witness taint, which etcd and the quorum members tolerate (a second,
    control-plane taint would keep those members off it too)."""
    if "witness" in host.roles:
        return [{"key": WITNESS_TAINT, "value": "true", "effect": "NoSchedule"}]
    if "control-plane" in host.roles and "worker" not in host.roles:
        return [{"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}]
    return []


def stale_taints(host: HostSettings) -> list[str]:
    """Taints an earlier version of this layer registered and 70-node removes (key:effect)."""
    return [f"{CONTROL_PLANE_TAINT}:NoSchedule"] if "witness" in host.roles else []


def node_labels(host: HostSettings) -> dict[str, str]:
    """Labels set on the Node by 70-node-register (the kubelet may not set node-role labels itself)."""
    labels = {
        "topology.kubernetes.io/zone": host.domain,
        "magento.io/failure-domain": host.domain,
    }
    if "worker" in host.roles:
        labels["node-role.kubernetes.io/worker"] = ""
    if "witness" in host.roles:
        labels["node-role.kubernetes.io/witness"] = ""
        labels["magento.io/witness"] = "true"
    if host.zfs is not None:
        labels["magento.io/zfs-pool"] = host.zfs.pool
    labels.update(host.labels)
    return labels


def _node_registration(host: HostSettings) -> dict[str, Any]:
    return {
        "name": host.name,
        "criSocket": CRI_SOCKET,
        "imagePullPolicy": "IfNotPresent",
        "kubeletExtraArgs": [{"name": "node-ip", "value": host.private_address}],
        "taints": taints(host),
    }


def arc_bytes(host: HostSettings) -> int:
    return host.zfs.arc_max_gib * 2**30 if host.zfs is not None else 0


def kubelet_configuration(cluster: ClusterSettings) -> dict[str, Any]:
    """The cluster-wide KubeletConfiguration (stored by kubeadm in the kubelet-config ConfigMap)."""
    kubelet = cluster.kubelet
    return {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
        "readOnlyPort": 0,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
        "failSwapOn": True,
        "maxPods": kubelet.max_pods,
        "kubeReserved": {"cpu": kubelet.kube_reserved_cpu, "memory": kubelet.kube_reserved_memory},
        "systemReserved": {"cpu": kubelet.system_reserved_cpu, "memory": kubelet.system_reserved_memory},
        "enforceNodeAllocatable": ["pods"],
        # All five signals: setting some of evictionHard zeroes the ones left out (kubelet docs).
        "evictionHard": {
            "memory.available": kubelet.eviction_memory_available,
            "nodefs.available": kubelet.eviction_nodefs_available,
            "imagefs.available": kubelet.eviction_imagefs_available,
            "nodefs.inodesFree": "5%",
            "imagefs.inodesFree": "5%",
        },
        # Graceful node shutdown: a kured reboot (systemd inhibitor) gives pods time to stop, critical
        # ones last.
        "shutdownGracePeriod": "120s",
        "shutdownGracePeriodCriticalPods": "30s",
        "seccompDefault": True,
        # The kubelet refuses to run when the kernel tunables it needs differ (10-baseline sets them).
        "protectKernelDefaults": True,
    }


def kubelet_patch(host: HostSettings, cluster: ClusterSettings) -> str:
    """This host's KubeletConfiguration patch: systemReserved memory plus its ZFS ARC cap."""
    kubelet = cluster.kubelet
    memory = _mebibytes(kubelet.system_reserved_memory) + arc_bytes(host) // 2**20
    patch = {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "systemReserved": {"cpu": kubelet.system_reserved_cpu, "memory": f"{memory}Mi"},
    }
    return yaml.safe_dump(patch, sort_keys=False)


def kubelet_digest(host: HostSettings, cluster: ClusterSettings) -> str:
    """16 hex digits naming the kubelet configuration a host runs: the cluster's and its own patch."""
    text = yaml.safe_dump(kubelet_configuration(cluster), sort_keys=True) + kubelet_patch(host, cluster)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _endpoint_host(cluster: ClusterSettings) -> str:
    assert cluster.control_plane_endpoint is not None  # checks.cluster_mode requires it in kubeadm mode
    return cluster.control_plane_endpoint.rsplit(":", 1)[0]


def api_sans(host: HostSettings, cluster: ClusterSettings) -> list[str]:
    """Subject alternative names of the API server certificate beyond kubeadm's own (each control
    plane's advertise address and host name, the Service IP, kubernetes.default...): the endpoint (the
    VIP in HA clusters), the address `pulumi up` dials (cluster.apiAccess.server) and the first
    control plane's own addresses. No other host's address, so adding a server changes nothing here."""
    names = {_endpoint_host(cluster), host.private_address, host.public_address}
    if cluster.api_vip is not None:
        names.add(cluster.api_vip.address)
    if cluster.api_server is not None:
        names.add(cluster.api_server.rsplit(":", 1)[0])
    return sorted(names)


def _node_ip_env() -> list[dict[str, Any]]:
    # The kubelet resolves status.hostIP for static pods too (before the Node is registered it uses --node-ip)
    # and expands $(MAGENTO_NODE_IP) in the command (kubeadm's flags are the container's command).
    return [{"name": NODE_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]


def control_plane_components() -> dict[str, Any]:
    """The ClusterConfiguration's controllerManager, scheduler and etcd: no profiling, metrics on the private address.

    etcd keeps 127.0.0.1 first in `listen-metrics-urls`: kubeadm probes the first URL and stage scripts read
    /health there (lib.sh etcd_healthy). kube-controller-manager and kube-scheduler have one `bind-address`; kubeadm
    copies it into their probes' host, where no variable is expanded, so each control plane's patch
    (`probe_patch`) puts its own address there."""
    def component() -> dict[str, Any]:
        return {
            "extraArgs": [{"name": "bind-address", "value": f"$({NODE_IP_ENV})"}, {"name": "profiling", "value": "false"}],
            "extraEnvs": _node_ip_env(),
        }

    return {
        "controllerManager": component(),
        "scheduler": component(),
        "etcd": {"local": {
            "dataDir": "/var/lib/etcd",
            "extraArgs": [{"name": "listen-metrics-urls",
                           "value": f"http://127.0.0.1:{ETCD_METRICS_PORT},http://$({NODE_IP_ENV}):{ETCD_METRICS_PORT}"}],
            "extraEnvs": _node_ip_env(),
        }},
    }


def probe_patch(host: HostSettings, component: str) -> str:
    """A control plane's strategic-merge patch of kube-controller-manager or kube-scheduler: its probes ask the
    private address the component binds (kubeadm would write the literal `$(MAGENTO_NODE_IP)`)."""
    def probe() -> dict[str, Any]:  # path, port and scheme stay kubeadm's (/healthz, HTTPS)
        return {"httpGet": {"host": host.private_address}}

    patch = {"spec": {"containers": [{"name": component, "livenessProbe": probe(), "startupProbe": probe()}]}}
    return yaml.safe_dump(patch, sort_keys=False)


def control_plane_patches(host: HostSettings) -> dict[str, str]:
    """The kubeadm patch files (name in PATCHES_DIR -> content) of a control plane beside its kubelet patch."""
    if "control-plane" not in host.roles:
        return {}
    return {f"{component}+strategic.yaml": probe_patch(host, component) for component in sorted(COMPONENT_PORTS)}


def apiserver_component(cluster: ClusterSettings) -> dict[str, Any]:
    """The ClusterConfiguration's apiServer flags and volumes (certSANs aside: stage 65 follows those): no profiling,
    Secret encryption at rest and the audit log (hosts/apiserver.py; stage 45 writes the files they name)."""
    return {
        "extraArgs": [{"name": "profiling", "value": "false"}, *apiserver.extra_args(cluster)],
        "extraVolumes": apiserver.extra_volumes(),
    }


def control_plane_digest(host: HostSettings, first: HostSettings, cluster: ClusterSettings) -> str:
    """16 hex digits naming the API server, controller-manager, scheduler and etcd settings a control plane runs:
    their ClusterConfiguration sections (the API certificate's SANs included) and its patches (empty for a node
    without a control plane). Stage 81 applies a change of them to a running control plane, so a cluster
    initialised before a flag existed (Secret encryption, the audit log) gets it without a manual `kubeadm
    upgrade node phase control-plane`, and the stored ClusterConfiguration follows new SANs (stage 65 reissues
    the certificate itself) so that a control plane joining later gets them from kubeadm."""
    if "control-plane" not in host.roles:
        return ""
    api_server = {"certSANs": api_sans(first, cluster), **apiserver_component(cluster)}
    text = yaml.safe_dump({"apiServer": api_server, **control_plane_components()}, sort_keys=True) \
        + yaml.safe_dump(control_plane_patches(host), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def init_configuration(host: HostSettings, cluster: ClusterSettings) -> str:
    """Init and cluster configuration of the first control plane (kube-proxy disabled for Cilium)."""

    init = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        # The token kubeadm generates at init lives 15 minutes, not the default 24 hours; later joins
        # get their own short-lived token from 55-join-token.
        "bootstrapTokens": [
            {
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
                "usages": ["signing", "authentication"],
                "ttl": "15m0s",
            }
        ],
        "localAPIEndpoint": {"advertiseAddress": host.private_address, "bindPort": API_PORT},
        "nodeRegistration": _node_registration(host),
        "patches": {"directory": PATCHES_DIR},
    }
    cluster_config = {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": "magento",
        "kubernetesVersion": f"v{cluster.kubernetes_version}",
        "controlPlaneEndpoint": cluster.control_plane_endpoint,
        "networking": {"podSubnet": cluster.pod_cidr, "serviceSubnet": cluster.service_cidr, "dnsDomain": "cluster.local"},
        "apiServer": {"certSANs": api_sans(host, cluster), **apiserver_component(cluster)},
        **control_plane_components(),
        # Cilium replaces kube-proxy. Kept in the stored ClusterConfiguration, so `kubeadm upgrade`
        # does not bring kube-proxy back either.
        "proxy": {"disabled": True},
    }
    return _dump([init, cluster_config, kubelet_configuration(cluster)])


def join_configuration_template(host: HostSettings, cluster: ClusterSettings) -> str:
    """The JoinConfiguration of a further host, with placeholders for the join secrets."""
    join: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": cluster.control_plane_endpoint,
                "token": TOKEN,
                "caCertHashes": [CA_CERT_HASH],
            },
        },
        "nodeRegistration": _node_registration(host),
        "patches": {"directory": PATCHES_DIR},
    }
    if "control-plane" in host.roles:
        join["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": host.private_address, "bindPort": API_PORT},
            "certificateKey": CERTIFICATE_KEY,
        }
    return _dump([join])


def certs_configuration(host: HostSettings, first: HostSettings, cluster: ClusterSettings) -> str:
    """What `kubeadm init phase certs apiserver --config` needs on one control plane (stage 65): this
    host's advertise address and node name, and the cluster's ClusterConfiguration (certSANs from the
    first control plane, as kubeadm stored them at init)."""
    docs = list(yaml.safe_load_all(init_configuration(first, cluster)))
    full = next(d for d in docs if d["kind"] == "ClusterConfiguration")
    # Only what the apiserver certificate depends on, so that other changes do not run stage 65 again.
    cluster_config = {key: full[key] for key in ("apiVersion", "kind", "clusterName", "kubernetesVersion", "controlPlaneEndpoint", "networking")}
    cluster_config["apiServer"] = {"certSANs": full["apiServer"]["certSANs"]}
    init = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": host.private_address, "bindPort": API_PORT},
        "nodeRegistration": {"name": host.name, "criSocket": CRI_SOCKET, "taints": taints(host)},
    }
    return _dump([init, cluster_config])


def apiserver_sans(host: HostSettings, first: HostSettings, cluster: ClusterSettings) -> list[str]:
    """The SANs this control plane's apiserver.crt must hold, as openssl prints them."""
    return apiserver.wanted_sans(host, cluster, api_sans(first, cluster))
