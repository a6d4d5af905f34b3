"""OpenSearch's HTTP TLS from a CA the program owns, so the stores can trust exactly that CA; and the admin
certificate securityadmin presents on the HTTP port.

Why not the operator's CA: with `tls.http.generate: true`, opensearch-operator 2.8.0 creates Secret
`<cluster>-ca` (keys `ca.crt`, `ca.key`; pkg/reconcilers/util/util.go ReadOrGenerateCaCert) at run time,
in the opensearch namespace, and signs the transport, HTTP and admin certificates with it. Its public half
is unknown to the program, so reaching every store's namespace would mean copying it there (External
Secrets reading a Secret that holds the key able to forge the cluster's admin certificate). And the HTTP
certificate it signs is valid one year and never renewed (pkg/tls/pki.go: `AddDate(1, 0, 0)`; handleHttp
creates `<cluster>-http-cert` only when it is missing): the search would stop on its first birthday.

What the program does instead:

* **The CA** (`ca_material`): an ECDSA P-256 key derived from a 64-character pulumi-random secret and a
  self-signed CA certificate (CA:TRUE, path length 0, valid 2026-2046) with deterministic ECDSA
  (RFC 6979): the same seed gives the same bytes on every run, so nothing rolls unless the seed is
  replaced. The key lives only in the Pulumi state (secret) and in Secret `opensearch-http-ca` of the
  opensearch namespace; the certificate is public and known to the program, which writes it into each
  store's namespace itself (sites/site.py, ConfigMap `opensearch-ca`): no cross-namespace copy.
  The transport layer has a CA of its own from the same derivation (search_transport.py).
* **Issuance**: cert-manager (installed by the edge layer) signs the HTTP certificate with that CA
  (Issuer `opensearch-http-ca`, kind CA) into Secret `opensearch-http-tls`, for the names the operator
  would have used, with a PKCS#8 key (the security plugin reads only PKCS#8): 90 days, renewed 30 days
  before it expires.
* **Renewal takes effect without a restart**: `caSecret` is left out of `tls.http`, so operator 2.8.0 mounts
  the whole Secret as the directory `tls-http/` (tls.go handleHttp -> mountFolder; with `caSecret` it mounts
  each file with subPath, which the kubelet never updates: opensearch-k8s-operator issues #947, #1021), and
  cert-manager's CA issuer writes `ca.crt` into it; the security plugin's file watcher reloads the files
  (`plugins.security.ssl.certificates_hot_reload.enabled`, search_transport.py).
* **The admin certificate**: with `tls.transport.generate: false` the operator creates no admin certificate
  (tls.go handleAdminCertificate signs one only when transport certificates are generated) and its
  securityconfig Job mounts `security.config.adminSecret` at /certs (securityconfig.go determineAdminSecret,
  builders NewSecurityconfigUpdateJob; securityadmin `-cacert /certs/ca.crt -cert /certs/tls.crt -key
  /certs/tls.key` against the HTTP port). So cert-manager issues it from this CA (the HTTP layer's trust)
  into Secret `opensearch-admin-tls`, and `tls.transport.adminDn` (what 2.8.0 reads for
  `plugins.security.authcz.admin_dn`) is its subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.certificates import WAIT_READY, CaMaterial, derive_ca, leaf_spec

CA_SECRET = "opensearch-http-ca"  # tls.crt/tls.key for cert-manager's CA issuer, ca.crt for people checking by hand
ISSUER = "opensearch-http-ca"
HTTP_SECRET = "opensearch-http-tls"
CERTIFICATE = "opensearch-http"
ADMIN_SECRET = "opensearch-admin-tls"  # ca.crt, tls.crt, tls.key: what the securityconfig Job mounts at /certs
ADMIN_CERTIFICATE = "opensearch-admin"
CA_KEY = "ca.crt"  # the key of the CA certificate in the stores' ConfigMap and in the Secrets
# The subject of our certificates: cert-manager builds it as Go's pkix.Name (O, OU, then CN in the DER), which
# OpenSearch prints CN first (RFC 2253 order): see subject_dn below.
OU = "opensearch"


CA_LAYERS = {"http": "HTTP", "transport": "transport"}


def ca_material(seed: str, environment: str, layer: str = "http") -> CaMaterial:
    """The CA of `environment`'s OpenSearch `layer` (http or transport), a pure function of the secret seed.
    The HTTP derivation is unchanged since the CA first shipped: the same seed keeps the same CA."""
    return derive_ca(f"magento/opensearch-{layer}-ca", environment, seed, f"OpenSearch {CA_LAYERS[layer]} CA ({environment})")


def dns_names(cluster: str, namespace: str, service: str) -> list[str]:
    """The names the operator puts on its own HTTP certificate (tls.go handleHttp), the Service's first."""
    names = [
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}",
        service,
        cluster,
        f"{cluster}-discovery",
        f"{cluster}.{namespace}",
        f"{cluster}.{namespace}.svc",
        f"{cluster}.{namespace}.svc.cluster.local",
    ]
    return list(dict.fromkeys(names))


def subject(common_name: str, environment: str) -> dict[str, object]:
    """`commonName` and `subject` of a Certificate whose DN is `subject_dn(common_name, environment)`."""
    return {"commonName": common_name, "subject": {"organizations": [f"magento-{environment}"], "organizationalUnits": [OU]}}


def subject_dn(common_name: str, environment: str) -> str:
    """The DN OpenSearch compares for such a certificate. cert-manager 1.21 writes the subject as Go's
    pkix.Name{Organization, OrganizationalUnit, CommonName}.ToRDNSequence() (pkg/util/pki/csr.go): O, OU, CN in
    the DER. The security plugin (2.19 DefaultPrincipalExtractor) prints it most specific first, RDNs joined by
    `,` without spaces (RFC 2253 order) and matches `plugins.security.nodes_dn` against that exact string."""
    return f"CN={common_name},OU={OU},O=magento-{environment}"


def certificate_spec(cluster: str, namespace: str, service: str) -> dict[str, object]:
    """The cert-manager Certificate of the HTTP layer."""
    names = dns_names(cluster, namespace, service)
    return leaf_spec(HTTP_SECRET, ISSUER, ["server auth", "digital signature"], commonName=names[0], dnsNames=names)


def admin_certificate_spec(cluster: str, environment: str) -> dict[str, object]:
    """The admin certificate securityadmin presents to the HTTP layer (a client certificate: client auth only)."""
    return leaf_spec(ADMIN_SECRET, ISSUER, ["client auth", "digital signature"], **subject(f"{cluster}-admin", environment))


def admin_dn(cluster: str, environment: str) -> str:
    return subject_dn(f"{cluster}-admin", environment)


def cluster_tls() -> dict[str, object]:
    """`spec.security.tls.http` of the OpenSearchCluster: our certificate, nothing generated, and no `caSecret`:
    the Secret is mounted as a directory (its own `ca.crt`), so a renewed certificate reaches the running nodes."""
    return {"generate": False, "secret": {"name": HTTP_SECRET}}


@dataclass(frozen=True)
class ProgramCa:
    secret: k8s.core.v1.Secret
    issuer: pulumi.CustomResource
    cert: pulumi.Output[str]  # public PEM (still marked secret: it comes from the seed)


def program_ca(parent: pulumi.Resource, name: str, layer: str, environment: str, cluster_namespace: str,
               namespace: k8s.core.v1.Namespace, secret_name: str, issuer_name: str) -> ProgramCa:
    """A CA from a pulumi-random seed (`ca_material`) in Secret `secret_name` and the cert-manager CA Issuer on it.
    Replacing `<name>-ca-seed` (pulumi up --replace) rotates the CA: docs/runbooks/opensearch-http-tls.md."""
    seed = random.RandomPassword(f"{name}-ca-seed", length=64, special=False, opts=pulumi.ResourceOptions(parent=parent))
    material = pulumi.Output.secret(seed.result).apply(lambda value: ca_material(value, environment, layer))
    cert = material.apply(lambda m: m.cert_pem)
    key = material.apply(lambda m: m.key_pem)
    labels = kube.labels("search")
    secret = k8s.core.v1.Secret(
        f"{name}-ca",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=cluster_namespace, labels=labels),
        type="kubernetes.io/tls",
        string_data={"tls.crt": cert, "tls.key": key, CA_KEY: cert},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace]),
    )
    issuer = kube.custom_object(
        f"{name}-issuer", "cert-manager.io/v1", "Issuer",
        metadata={"name": issuer_name, "namespace": cluster_namespace, "labels": labels},
        fields={"spec": {"ca": {"secretName": secret_name}}},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespace, secret]),
    )
    return ProgramCa(secret, issuer, cert)


class SearchHttpTls(pulumi.ComponentResource):
    """The HTTP CA (seed, Secret, CA Issuer), the HTTP Certificate and the admin Certificate; `ca_cert` is the
    public PEM the stores trust."""

    ca_cert: pulumi.Output[str]

    def __init__(self, name: str, environment: str, cluster: str, cluster_namespace: str, namespace: k8s.core.v1.Namespace, service: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:SearchHttpTls", name, None, opts)
        ca = program_ca(self, name, "http", environment, cluster_namespace, namespace, CA_SECRET, ISSUER)
        labels = kube.labels("search")
        after_issuer = pulumi.ResourceOptions(parent=self, depends_on=[namespace, ca.issuer])
        self.certificate = kube.custom_object(
            f"{name}-certificate", "cert-manager.io/v1", "Certificate",
            metadata={"name": CERTIFICATE, "namespace": cluster_namespace, "labels": labels, "annotations": WAIT_READY},
            fields={"spec": certificate_spec(cluster, cluster_namespace, service)},
            opts=after_issuer,
        )
        self.admin_certificate = kube.custom_object(
            f"{name}-admin-certificate", "cert-manager.io/v1", "Certificate",
            metadata={"name": ADMIN_CERTIFICATE, "namespace": cluster_namespace, "labels": labels, "annotations": WAIT_READY},
            fields={"spec": admin_certificate_spec(cluster, environment)},
            opts=after_issuer,
        )
        self.ca_secret = ca.secret
        # The certificate is public: plain in the stores' ConfigMaps and in the siteTenancy output.
        self.ca_cert = pulumi.Output.unsecret(ca.cert)
        self.register_outputs({"caSecret": CA_SECRET, "httpSecret": HTTP_SECRET, "adminSecret": ADMIN_SECRET})


__all__ = ["ADMIN_SECRET", "CA_KEY", "CA_SECRET", "HTTP_SECRET", "SearchHttpTls", "admin_dn", "ca_material", "cluster_tls",
           "dns_names", "leaf_spec", "program_ca", "subject", "subject_dn"]
