"""OpenSearch's transport TLS (node to node) from a CA the program owns, renewed by cert-manager and reloaded
by the running nodes.

Why not the operator's certificates: with `tls.transport.generate: true`, opensearch-operator 2.8.0 signs
per-node certificates with its own CA (pkg/reconcilers/tls.go handleTransportGeneratePerNode) valid one year
(pkg/tls/pki.go `AddDate(1, 0, 0)`) and only ever adds the keys of a missing node to Secret
`<cluster>-transport-cert` (`if certExists && keyExists { continue }`): nothing checks an expiry, nothing
renews (upstream issue opensearch-k8s-operator#399, "Support renewal of generated certificates"). On the
first birthday of the cluster the nodes refuse each other's certificates and the cluster goes red.

What the program does instead:

* **A CA of its own for the transport layer** (`ca_material(..., "transport")`, Secret and Issuer
  `opensearch-transport-ca`), not the HTTP CA: the transport truststore then accepts only certificates the
  transport issuer signs (never the HTTP or admin certificate, nor anything signed for the stores' side), and
  the HTTP CA, whose certificate every store holds, can be rotated (a store-side change) without touching the
  transport trust, whose rotation needs every node restarted together.
* **One certificate for every node** (`perNode: false`): cert-manager writes one key pair per Certificate and
  `perNode: true` with `generate: false` wants `<pod>.crt`/`<pod>.key` per pod in one Secret, which it
  cannot produce. With `perNode: false` the operator sets `enforce_hostname_verification: false` (tls.go
  handleTransportExistingCerts); peers are authenticated by the CA and by `plugins.security.nodes_dn`, which
  the operator writes from `nodesDn`: exactly our certificate's DN (`node_dn`, no wildcard). The SANs cover
  the cluster's Services and, with wildcards under the StatefulSets' governing Service (`serviceName`), every
  node of any pool whatever the replica count, so scaling never changes the certificate (the hot reload
  below refuses a certificate whose SANs changed). Usages server auth and client auth: each node is the
  client of the connections it opens.
* **90 days, renewed 30 days before expiry**, a new ECDSA key each time (components/certificates.py leaf_spec).
* **Renewal takes effect on the running nodes**: `caSecret` is left unset, so 2.8.0 mounts Secret
  `opensearch-transport-tls` as the directory `tls-transport/` (mountFolder; `ca.crt` is written into it by
  cert-manager's CA issuer), never with subPath, and the kubelet replaces its files when cert-manager renews.
  OpenSearch security 2.19.3 watches those directories when `plugins.security.ssl.certificates_hot_reload.enabled`
  is true (OpenSearchSecurityPlugin -> SslSettingsManager.addSslConfigurationsChangeListener, a FileWatcher
  polled every 5 s) and rebuilds the SSL context when the certificate changed, after checking it is within its
  dates and has the same subject, issuer and SANs (SslContextHandler.reloadSslContext): what a renewal keeps.
  The setting exists from 2.19.1 (it breaks start-up on 2.19.0: security#5115) and excludes
  `plugins.security.ssl_cert_reload_enabled` (the manual reload API). The operator never restarts the pods
  on a Secret change (its config hash covers opensearch.yml and additionalVolumes only: configuration.go).
  Upstream later did the same (operator PR #1086 `enableHotReload`, not in the 2.8.0 image: its CRD field,
  shipped by chart 2.8.2, is ignored by the 2.8.0 code, so we do not set it).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.certificates import WAIT_READY, leaf_spec
from components.data.search_tls import admin_dn, program_ca, subject, subject_dn

CA_SECRET = "opensearch-transport-ca"
ISSUER = "opensearch-transport-ca"
SECRET = "opensearch-transport-tls"  # tls.crt, tls.key, ca.crt (cert-manager)
CERTIFICATE = "opensearch-transport"
# Both TLS layers reload renewed files (see above); OpenSearch >= 2.19.1 (components/versions.py pins 2.19.3).
HOT_RELOAD = {"plugins.security.ssl.certificates_hot_reload.enabled": "true"}
HOT_RELOAD_SINCE = (2, 19, 1)


def node_cn(cluster: str) -> str:
    return f"{cluster}-node"


def node_dn(cluster: str, environment: str) -> str:
    """`nodesDn`: the transport certificate's subject as the security plugin formats it."""
    return subject_dn(node_cn(cluster), environment)


def dns_names(cluster: str, namespace: str, service: str) -> list[str]:
    """The cluster's Services and, by wildcard, `<pod>.<service>.<namespace>[.svc[.cluster.local]]` of every node."""
    names = [
        f"{cluster}.{namespace}.svc.cluster.local",
        f"{cluster}.{namespace}.svc",
        f"{cluster}.{namespace}",
        cluster,
        f"{cluster}-discovery",
        f"{cluster}-discovery.{namespace}.svc.cluster.local",
        f"*.{service}.{namespace}.svc.cluster.local",
        f"*.{service}.{namespace}.svc",
        f"*.{service}.{namespace}",
    ]
    return list(dict.fromkeys(names))


def certificate_spec(cluster: str, namespace: str, service: str, environment: str) -> dict[str, object]:
    """The cert-manager Certificate every node presents on the transport port."""
    return leaf_spec(SECRET, ISSUER, ["server auth", "client auth", "digital signature"],
                     **subject(node_cn(cluster), environment), dnsNames=dns_names(cluster, namespace, service))


def transport_tls(cluster: str, environment: str) -> dict[str, object]:
    """`spec.security.tls.transport` of the OpenSearchCluster. `adminDn` here is what operator 2.8.0 reads for
    `plugins.security.authcz.admin_dn` when it generates nothing (tls.go handleAdminCertificate)."""
    return {
        "generate": False,
        "perNode": False,
        "secret": {"name": SECRET},
        "nodesDn": [node_dn(cluster, environment)],
        "adminDn": [admin_dn(cluster, environment)],
    }


def hot_reload_supported(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")[:3]) >= HOT_RELOAD_SINCE


class SearchTransportTls(pulumi.ComponentResource):
    """The transport CA (seed, Secret, CA Issuer) and the nodes' Certificate."""

    def __init__(self, name: str, environment: str, cluster: str, cluster_namespace: str, namespace: k8s.core.v1.Namespace,
                 service: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:SearchTransportTls", name, None, opts)
        ca = program_ca(self, name, "transport", environment, cluster_namespace, namespace, CA_SECRET, ISSUER)
        self.certificate = kube.custom_object(
            f"{name}-certificate", "cert-manager.io/v1", "Certificate",
            metadata={"name": CERTIFICATE, "namespace": cluster_namespace, "labels": kube.labels("search"), "annotations": WAIT_READY},
            fields={"spec": certificate_spec(cluster, cluster_namespace, service, environment)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, ca.issuer]),
        )
        self.ca_secret = ca.secret
        self.register_outputs({"caSecret": CA_SECRET, "transportSecret": SECRET})
