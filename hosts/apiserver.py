"""The API server's hardening files and flags, rendered from the stack configuration (no Pulumi here).

- an `EncryptionConfiguration` (apiserver.config.k8s.io/v1) with placeholders for the keys: stage 45
  substitutes them from stdin (a secret Output of pulumi-random), writes the file 0600 root and never
  prints it; the keys never appear in a rendered file, a command line or the plan;
- an audit `Policy` (audit.k8s.io/v1) and the rotation flags of the audit log;
- the `apiServer` extraArgs and extraVolumes that make the kube-apiserver static pod read both;
- the subject alternative names kubeadm puts in a control plane's apiserver.crt (stage 65 compares
  them with the certificate on disk and regenerates it when they differ).

References: kubespray roles/kubernetes/control-plane (secrets_encryption.yaml.j2, apiserver-audit-policy.yaml.j2);
kubeadm's pkiutil.GetAPIServerAltNames (cmd/kubeadm/app/util/pkiutil/pki_helpers.go) for the SANs.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings

APISERVER_DIR = "/etc/kubernetes/magento/apiserver"
ENCRYPTION_CONFIG = f"{APISERVER_DIR}/encryption-config.yaml"
AUDIT_POLICY = f"{APISERVER_DIR}/audit-policy.yaml"
AUDIT_DIR = "/var/log/kubernetes/audit"
AUDIT_LOG = f"{AUDIT_DIR}/audit.log"


def key_placeholder(name: str) -> str:
    """The placeholder of one encryption key in the EncryptionConfiguration template."""
    return f"@@KEY_{name}@@"


def encryption_configuration_template(cluster: ClusterSettings) -> str:
    """The EncryptionConfiguration with a placeholder per key: the first key encrypts, every key
    decrypts, and `identity` last reads what was written before encryption was enabled."""
    enc = cluster.secrets_encryption
    keys = [{"name": name, "secret": key_placeholder(name)} for name in enc.keys]
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": list(enc.resources),
                "providers": [{enc.provider: {"keys": keys}}, {"identity": {}}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _resources(group: str, *names: str) -> dict[str, Any]:
    return {"group": group, "resources": list(names)}


READS = ["get", "list", "watch"]
WRITES = ["create", "update", "patch", "delete", "deletecollection"]


def audit_policy() -> dict[str, Any]:
    """An audit policy for production: the first matching rule decides. Noisy read-only system
    traffic and events are not logged; Secrets, ConfigMaps, tokens and token reviews only as
    metadata (never their payload); RBAC changes with request and response; other writes with their
    request; everything else as metadata."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        # RequestReceived duplicates every ResponseComplete entry.
        "omitStages": ["RequestReceived"],
        "rules": [
            # Watches of kube-proxy (Cilium runs in its place, kept for clusters that enable it).
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
             "resources": [_resources("", "endpoints", "services", "services/status"),
                           _resources("discovery.k8s.io", "endpointslices")]},
            # Kubelets read their pods, nodes, secrets and configmaps all the time.
            {"level": "None", "userGroups": ["system:nodes"], "verbs": list(READS)},
            # Leader election and node heartbeats (leases renewed every few seconds).
            {"level": "None", "verbs": [*READS, "update"], "resources": [_resources("coordination.k8s.io", "leases")]},
            # Control-plane components reading their own state.
            {"level": "None", "users": ["system:kube-scheduler", "system:kube-controller-manager", "system:apiserver"],
             "verbs": list(READS)},
            # Events are objects of their own, kept an hour; logging them again doubles the volume.
            {"level": "None", "resources": [_resources("", "events"), _resources("events.k8s.io", "events")]},
            # Health and discovery endpoints.
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version", "/metrics", "/openapi/*"]},
            # Payloads that hold credentials: who did what, never the content.
            {"level": "Metadata", "omitStages": ["RequestReceived"],
             "resources": [_resources("", "secrets", "configmaps", "serviceaccounts/token"),
                           _resources("authentication.k8s.io", "tokenreviews"),
                           _resources("certificates.k8s.io", "certificatesigningrequests")]},
            # Changes of who may do what, in full.
            {"level": "RequestResponse", "verbs": list(WRITES),
             "resources": [_resources("rbac.authorization.k8s.io", "roles", "rolebindings", "clusterroles", "clusterrolebindings")]},
            # Reads of everything else: metadata.
            {"level": "Metadata", "verbs": list(READS)},
            # Other writes: with the request body (what was changed), not the response.
            {"level": "Request", "verbs": list(WRITES)},
            # The rest (exec, attach, port-forward, proxy, subresources with custom verbs).
            {"level": "Metadata"},
        ],
    }


def audit_policy_text() -> str:
    return yaml.safe_dump(audit_policy(), sort_keys=False)


def extra_args(cluster: ClusterSettings) -> list[dict[str, str]]:
    """kube-apiserver flags (kubeadm v1beta4 `extraArgs`, a list of name/value) for encryption and audit."""
    audit = cluster.audit_log
    return [
        {"name": "encryption-provider-config", "value": ENCRYPTION_CONFIG},
        {"name": "audit-policy-file", "value": AUDIT_POLICY},
        {"name": "audit-log-path", "value": AUDIT_LOG},
        {"name": "audit-log-maxage", "value": str(audit.max_age_days)},
        {"name": "audit-log-maxbackup", "value": str(audit.max_backups)},
        {"name": "audit-log-maxsize", "value": str(audit.max_size_mib)},
        {"name": "audit-log-compress", "value": "true"},
    ]


def extra_volumes() -> list[dict[str, Any]]:
    """hostPath mounts (kubeadm v1beta4 `extraVolumes`, HostPathMount) for the two files and the log."""
    return [
        {"name": "magento-apiserver-config", "hostPath": APISERVER_DIR, "mountPath": APISERVER_DIR,
         "readOnly": True, "pathType": "Directory"},
        {"name": "audit-log", "hostPath": AUDIT_DIR, "mountPath": AUDIT_DIR,
         "readOnly": False, "pathType": "DirectoryOrCreate"},
    ]


def audit_disk_mib(cluster: ClusterSettings) -> int:
    """The most the audit log takes on a control plane's root disk: the live file plus every rotated
    one, counted uncompressed (the rotated files are gzip-compressed, typically a tenth of that)."""
    audit = cluster.audit_log
    return (audit.max_backups + 1) * audit.max_size_mib


def _openssl_ip(address: str) -> str:
    """An IP address as `openssl x509 -ext subjectAltName` prints it (IPv6: every group, upper-case hex)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return str(ip)
    groups = ip.exploded.split(":")
    return ":".join(f"{int(g, 16):X}" for g in groups)


def wanted_sans(host: HostSettings, cluster: ClusterSettings, cert_sans: list[str]) -> list[str]:
    """Every SAN kubeadm writes into this control plane's apiserver.crt, as openssl prints them
    (`DNS:name`, `IP Address:ip`), sorted: the node name, kubernetes.default..., the first Service IP,
    the advertise address, the endpoint host and the configured certSANs."""
    assert cluster.control_plane_endpoint is not None
    service_ip = str(next(ipaddress.ip_network(cluster.service_cidr).hosts()))
    names = [host.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
             service_ip, host.private_address, cluster.control_plane_endpoint.rsplit(":", 1)[0], *cert_sans]
    out = set()
    for name in names:
        try:
            out.add(f"IP Address:{_openssl_ip(name)}")
        except ValueError:
            out.add(f"DNS:{name}")
    return sorted(out)
