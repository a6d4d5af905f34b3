"""OpenSearch's HTTP TLS from a CA the program owns, so the stores can trust exactly that CA.

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
* **Issuance**: cert-manager (installed by the edge layer) signs the HTTP certificate with that CA
  (Issuer `opensearch-http-ca`, kind CA) into Secret `opensearch-http-tls`, for the names the operator
  would have used, with a PKCS#8 key (the security plugin reads only PKCS#8), and renews it a year before
  it expires. The nodes read it at start (the operator mounts it with subPath), so a renewed certificate
  is served from the next rolling restart, which the year of margin leaves room for
  (docs/runbooks/opensearch-http-tls.md).
* **The cluster**: `tls.http.generate: false`, `secret: opensearch-http-tls`, `caSecret:
  opensearch-http-ca`. With `caSecret` set the operator also signs its admin certificate (the one
  securityadmin presents on the HTTP port) with this CA (tls.go adminCAName for OpenSearch >= 2), so the
  securityconfig Job keeps working: its `-cacert` is the admin Secret's `ca.crt`, this CA.
  Transport TLS stays with the operator's own CA (nodes only; no client of ours sees it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components import k8s as kube

CA_SECRET = "opensearch-http-ca"  # tls.crt/tls.key for cert-manager, ca.crt/ca.key for the operator
ISSUER = "opensearch-http-ca"
HTTP_SECRET = "opensearch-http-tls"
CERTIFICATE = "opensearch-http"
CA_KEY = "ca.crt"  # the key of the CA certificate in the stores' ConfigMap and in the Secrets
NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2046, 1, 1, tzinfo=UTC)
# The HTTP certificate: two years, renewed one year before it expires (a restart within that year serves it).
DURATION = "17520h"
RENEW_BEFORE = "8760h"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class CaMaterial:
    cert_pem: str
    key_pem: str  # PKCS#8


def ca_material(seed: str, environment: str) -> CaMaterial:
    """The CA of `environment`'s OpenSearch HTTP layer, a pure function of the secret seed."""
    digest = hashlib.sha256(b"magento/opensearch-http-ca\0" + environment.encode() + b"\0" + seed.encode()).digest()
    key = ec.derive_private_key(int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"magento-{environment}"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"OpenSearch HTTP CA ({environment})"),
    ])
    serial = int.from_bytes(hashlib.sha256(b"serial\0" + digest).digest()[:16], "big") >> 1 | 1
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return CaMaterial(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode(),
    )


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


def certificate_spec(cluster: str, namespace: str, service: str) -> dict[str, object]:
    """The cert-manager Certificate of the HTTP layer (schema: cert-manager.io/certificate_v1)."""
    names = dns_names(cluster, namespace, service)
    return {
        "secretName": HTTP_SECRET,
        "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": ISSUER},
        "commonName": names[0],
        "dnsNames": names,
        "duration": DURATION,
        "renewBefore": RENEW_BEFORE,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature"],
    }


def cluster_tls() -> dict[str, object]:
    """`spec.security.tls.http` of the OpenSearchCluster: our certificate and CA, nothing generated."""
    return {"generate": False, "secret": {"name": HTTP_SECRET}, "caSecret": {"name": CA_SECRET}}


class SearchHttpTls(pulumi.ComponentResource):
    """The CA (seed, Secret), the CA Issuer and the HTTP Certificate; `ca_cert` is the public PEM the stores trust."""

    ca_cert: pulumi.Output[str]

    def __init__(self, name: str, environment: str, cluster: str, cluster_namespace: str, namespace: k8s.core.v1.Namespace, service: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:SearchHttpTls", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        # Replacing this resource (pulumi up --replace) rotates the CA: docs/runbooks/opensearch-http-tls.md.
        seed = random.RandomPassword(f"{name}-ca-seed", length=64, special=False, opts=child)
        material = pulumi.Output.secret(seed.result).apply(lambda value: ca_material(value, environment))
        cert = material.apply(lambda m: m.cert_pem)
        key = material.apply(lambda m: m.key_pem)
        labels = kube.labels("search")
        ca_secret = k8s.core.v1.Secret(
            f"{name}-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CA_SECRET, namespace=cluster_namespace, labels=labels),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert, "tls.key": key, "ca.crt": cert, "ca.key": key},
            opts=in_ns,
        )
        issuer = kube.custom_object(
            f"{name}-issuer", "cert-manager.io/v1", "Issuer",
            metadata={"name": ISSUER, "namespace": cluster_namespace, "labels": labels},
            fields={"spec": {"ca": {"secretName": CA_SECRET}}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, ca_secret]),
        )
        self.certificate = kube.custom_object(
            f"{name}-certificate", "cert-manager.io/v1", "Certificate",
            metadata={"name": CERTIFICATE, "namespace": cluster_namespace, "labels": labels},
            fields={"spec": certificate_spec(cluster, cluster_namespace, service)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, issuer]),
        )
        self.ca_secret = ca_secret
        # The certificate is public: plain in the stores' ConfigMaps and in the siteTenancy output.
        self.ca_cert = pulumi.Output.unsecret(cert)
        self.register_outputs({"caSecret": CA_SECRET, "httpSecret": HTTP_SECRET})


__all__ = ["CA_KEY", "CA_SECRET", "HTTP_SECRET", "SearchHttpTls", "ca_material", "cluster_tls", "dns_names"]
