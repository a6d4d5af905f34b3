"""The CAs the program owns (OpenSearch HTTP and transport, the secrets store) and the cert-manager Certificates
they sign. Each CA is a pure function of a secret seed, so every run of the program (and the offline plan) derives
the same CA without keeping a key in state beside the seed; cert-manager's CA Issuers sign the leaves with them
(components/data/search_tls.py, components/data/search_transport.py, components/platform/secrets_tls.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2046, 1, 1, tzinfo=UTC)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Every leaf: 90 days, renewed 30 days before it expires; the servers reload it.
DURATION = "2160h"
RENEW_BEFORE = "720h"
# What mounts a Certificate's Secret depends on it: the provider waits for cert-manager's Ready (the Secret exists).
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}


@dataclass(frozen=True)
class CaMaterial:
    cert_pem: str
    key_pem: str  # PKCS#8


def derive_ca(label: str, environment: str, seed: str, common_name: str) -> CaMaterial:
    """A P-256 CA whose key is derived from `label`, the environment and the seed, self-signed with
    deterministic ECDSA (RFC 6979): the same inputs give the same certificate, byte for byte. `label` names
    the CA's purpose; changing it (or the derivation) makes a new CA."""
    digest = hashlib.sha256(label.encode() + b"\0" + environment.encode() + b"\0" + seed.encode()).digest()
    key = ec.derive_private_key(int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"magento-{environment}"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
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


def leaf_spec(secret: str, issuer: str, usages: list[str], **names: object) -> dict[str, object]:
    """A cert-manager Certificate (schema: cert-manager.io/certificate_v1) from one of our CA issuers: ECDSA P-256,
    PKCS#8 (the security plugin and securityadmin read PKCS#8), a new key at each renewal, 90 days renewed at 60."""
    return {
        "secretName": secret,
        "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": issuer},
        **names,
        "duration": DURATION,
        "renewBefore": RENEW_BEFORE,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"},
        "usages": usages,
    }
