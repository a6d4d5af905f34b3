"""OpenSearch's transport TLS and admin certificate from the program's CAs through cert-manager
(components/data/search_transport.py, search_tls.py), renewed and reloaded instead of expiring after a year.

The real check: the program's transport CA as it derives it, a node certificate issued the way cert-manager's CA
issuer issues the rendered Certificate (subject as Go's pkix.Name, SANs, usages, duration), then mutual TLS on
loopback with Python's `ssl` and with the JVM's JSSE (what the nodes run; it enforces key usages) both ways
(each node is server and client), openssl's own purpose checks, and the DN string the security plugin compares
with `nodes_dn`, computed by Java exactly as its DefaultPrincipalExtractor does. A certificate from the HTTP CA
(the admin certificate) is refused on the transport layer, and a node certificate without client auth is refused
by the JVM (why the usages matter).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components import versions
from components.data import opensearch, search_tls, search_transport
from components.data.search_tls import ca_material
from offline.engine import Recording
from offline.references import check_references
from tests.conftest import recording_for
from tests.layer_helpers import kind, schema_problems
from tests.servers import require_binary

NS = opensearch.NAMESPACE


def obj(rec: Recording, kind_name: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in kind(rec, kind_name) if r.inputs["metadata"]["name"] == name and r.inputs["metadata"].get("namespace") == NS]
    return found


def cluster(rec: Recording) -> dict[str, Any]:
    (found,) = kind(rec, "OpenSearchCluster")
    return found.inputs


# ------------------------------------------------------------------------------ rendered objects


def test_transport_uses_our_certificate_with_the_dns_opensearch_compares(stack_recording: Recording):
    spec = cluster(stack_recording)["spec"]
    environment = "prod" if spec["nodePools"][0]["replicas"] > 1 else "dev"
    transport = spec["security"]["tls"]["transport"]
    node_dn = f"CN=opensearch-node,OU=opensearch,O=magento-{environment}"
    admin_dn = f"CN=opensearch-admin,OU=opensearch,O=magento-{environment}"
    assert transport == {"generate": False, "perNode": False, "secret": {"name": search_transport.SECRET},
                         "nodesDn": [node_dn], "adminDn": [admin_dn]}
    # no caSecret on either layer: operator 2.8.0 then mounts each Secret as a directory (no subPath), which the
    # kubelet updates on renewal; the security plugin reloads the files
    assert "caSecret" not in transport and "caSecret" not in spec["security"]["tls"]["http"]
    additional = spec["general"]["additionalConfig"]
    assert additional["plugins.security.ssl.certificates_hot_reload.enabled"] == "true"
    assert "plugins.security.ssl_cert_reload_enabled" not in additional  # the two exclude each other (2.19)
    assert search_transport.hot_reload_supported(spec["general"]["version"])
    assert not search_transport.hot_reload_supported("2.19.0")  # security#5115: the setting breaks 2.19.0
    assert spec["general"]["version"] == versions.image("opensearch").tag
    # securityadmin's certificate: the admin Certificate's Secret, its subject is adminDn
    assert spec["security"]["config"]["adminSecret"] == {"name": search_tls.ADMIN_SECRET}
    admin = obj(stack_recording, "Certificate", search_tls.ADMIN_CERTIFICATE)["spec"]
    assert admin["secretName"] == search_tls.ADMIN_SECRET and admin["issuerRef"]["name"] == search_tls.ISSUER  # the HTTP layer's CA
    assert admin["usages"] == ["client auth", "digital signature"]
    # the cluster waits for all three Secrets: its Certificates are awaited Ready and it depends on them
    (record,) = kind(stack_recording, "OpenSearchCluster")
    for name in (search_tls.CERTIFICATE, search_tls.ADMIN_CERTIFICATE, search_transport.CERTIFICATE):
        certificate = [r for r in kind(stack_recording, "Certificate") if r.inputs["metadata"]["name"] == name]
        assert certificate[0].inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready", name
        assert certificate[0].urn in record.dependencies, name


def test_transport_certificate_renews_from_its_own_ca(prod: Recording):
    certificate = obj(prod, "Certificate", search_transport.CERTIFICATE)["spec"]
    assert certificate["secretName"] == search_transport.SECRET
    assert certificate["issuerRef"] == {"group": "cert-manager.io", "kind": "Issuer", "name": search_transport.ISSUER}
    assert {"server auth", "client auth"} <= set(certificate["usages"])
    assert (certificate["duration"], certificate["renewBefore"]) == ("2160h", "720h")  # 90 days, renewed at 60
    assert certificate["privateKey"] == {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"}
    issuer = obj(prod, "Issuer", search_transport.ISSUER)
    assert issuer["spec"] == {"ca": {"secretName": search_transport.CA_SECRET}}
    transport_ca = obj(prod, "Secret", search_transport.CA_SECRET)["stringData"]
    http_ca = obj(prod, "Secret", search_tls.CA_SECRET)["stringData"]
    assert transport_ca["tls.crt"] != http_ca["tls.crt"]  # two CAs: the stores' trust is not the nodes' trust
    assert "OpenSearch transport CA (prod)" in x509.load_pem_x509_certificate(transport_ca["tls.crt"].encode()).subject.rfc4514_string()
    assert prod.named("opensearch-transport-tls-ca").is_secret("stringData")
    http = obj(prod, "Certificate", search_tls.CERTIFICATE)["spec"]
    assert (http["duration"], http["renewBefore"]) == ("2160h", "720h")  # HTTP renews and reloads the same way
    records = [r for r in prod.own_objects() if r.inputs["kind"] in ("Issuer", "Certificate", "OpenSearchCluster")]
    assert schema_problems(records) == []


def test_the_certificate_names_do_not_depend_on_the_node_count(dev: Recording, prod: Recording):
    """A scale-out must not change the SANs: the hot reload refuses a certificate whose SANs changed."""
    names = [obj(rec, "Certificate", search_transport.CERTIFICATE)["spec"]["dnsNames"] for rec in (dev, prod)]
    assert names[0] == names[1]
    assert sum(p["replicas"] for p in cluster(prod)["spec"]["nodePools"]) == 3 and cluster(dev)["spec"]["nodePools"][0]["replicas"] == 1


def test_references_find_the_secrets_the_cluster_names(prod: Recording):
    objects = [r.inputs for r in prod.kubernetes_objects()]
    ours = [p for p in map(str, check_references(objects)) if "OpenSearchCluster" in p or "Certificate" in p]
    assert ours == []
    # without the transport Certificate, its Secret is dangling; without the HTTP issuer, two Certificates are
    without_certificate = [o for o in objects if not (o["kind"] == "Certificate" and o["metadata"]["name"] == search_transport.CERTIFICATE)]
    problems = [str(p) for p in check_references(without_certificate)]
    assert any("OpenSearchCluster opensearch/opensearch" in p and "tls.transport.secret names Secret opensearch/opensearch-transport-tls" in p
               for p in problems), problems
    without_issuer = [o for o in objects if not (o["kind"] == "Issuer" and o["metadata"]["name"] == search_tls.ISSUER)]
    problems = [str(p) for p in check_references(without_issuer)]
    assert sum("is issued by Issuer opensearch-http-ca, which does not exist in opensearch" in p for p in problems) == 2, problems


# ------------------------------------------------------------------------------ the real check


def issue(spec: dict[str, Any], ca: search_tls.CaMaterial, directory: Path, name: str) -> tuple[Path, Path, Path]:
    """What cert-manager's CA issuer writes for `spec`: tls.key (PKCS#8), tls.crt, ca.crt. The subject is built as
    cert-manager builds it: Go's pkix.Name{Organization, OrganizationalUnit, CommonName}.ToRDNSequence(), i.e.
    O, OU, CN in that order in the DER."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = spec.get("subject") or {}
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in subject.get("organizations", [])]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, u) for u in subject.get("organizationalUnits", [])]
    attributes += [x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])]
    eku = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH}
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=int(spec["duration"].removesuffix("h"))))
        .add_extension(x509.KeyUsage(digital_signature="digital signature" in spec["usages"], key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku[u] for u in spec["usages"] if u in eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
    )
    if spec.get("dnsNames"):
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in spec["dnsNames"]]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    paths = directory / f"{name}.key", directory / f"{name}.crt", directory / f"{name}-ca.crt"
    paths[0].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_text(ca.cert_pem)
    return paths


# The JVM OpenSearch runs in. `principal`: the security plugin's DefaultPrincipalExtractor.extractPrincipal (2.19.3) in
# its logic: X500Principal's string, parsed as an LdapName, RDNs reversed and joined by "," (what
# plugins.security.nodes_dn is matched against). `handshake`: one mutual TLS handshake on loopback between two
# JSSE contexts built from PEM files (PKCS#8 EC key, certificate, CA), the server requiring a client certificate,
# both sides validating with the PKIX trust manager (which checks key usage and extended key usage).
JAVA = """
import java.io.*;
import java.net.InetAddress;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;
import java.util.stream.Collectors;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.*;

public class TransportTls {
    static final char[] PASS = "changeit".toCharArray();

    static X509Certificate cert(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static PrivateKey key(String path) throws Exception {
        String pem = Files.readString(Path.of(path)).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\\\s", "");
        return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
    }

    static SSLContext context(String keyPath, String certPath, String caPath) throws Exception {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("node", key(keyPath), PASS, new java.security.cert.Certificate[] {cert(certPath)});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
        kmf.init(keys, PASS);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", cert(caPath));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return context;
    }

    static String principal(X509Certificate cert) throws Exception {
        List<Rdn> rdns = new ArrayList<>(new LdapName(cert.getSubjectX500Principal().toString()).getRdns());
        Collections.reverse(rdns);
        return rdns.stream().map(Rdn::toString).collect(Collectors.joining(","));
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("principal")) {
            for (String path : Arrays.copyOfRange(args, 1, args.length)) System.out.println(principal(cert(path)));
            return;
        }
        SSLContext server = context(args[1], args[2], args[3]), client = context(args[4], args[5], args[6]);
        SSLServerSocket listener = (SSLServerSocket) server.getServerSocketFactory().createServerSocket(0, 1, InetAddress.getLoopbackAddress());
        listener.setNeedClientAuth(true);
        Thread serving = new Thread(() -> {
            try (SSLSocket socket = (SSLSocket) listener.accept()) {
                socket.startHandshake();
                System.out.println("server-saw " + principal((X509Certificate) socket.getSession().getPeerCertificates()[0]));
                socket.getOutputStream().write(1);
                socket.getOutputStream().flush();
            } catch (Exception e) {
                System.out.println("server-refused " + e);
            }
        });
        serving.start();
        try (SSLSocket socket = (SSLSocket) client.getSocketFactory().createSocket(InetAddress.getLoopbackAddress(), listener.getLocalPort())) {
            socket.startHandshake();
            socket.getInputStream().read();
            System.out.println("client-saw " + principal((X509Certificate) socket.getSession().getPeerCertificates()[0]));
        } catch (Exception e) {
            System.out.println("client-refused " + e);
        }
        serving.join(20000);
    }
}
"""


def java(pki: dict[str, Any], *args: str) -> list[str]:
    binary = require_binary("java", "openjdk-17-jdk-headless", extra_paths=("/usr/bin",))
    source = pki["dir"] / "TransportTls.java"
    source.write_text(JAVA)
    result = subprocess.run([binary, str(source), *args], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.splitlines())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rec = recording_for("prod")
    directory = tmp_path_factory.mktemp("transport-pki")
    transport_ca = ca_material("transport-real-check-" + "5" * 43, "prod", "transport")
    http_ca = ca_material("http-real-check-" + "6" * 48, "prod")
    transport_spec = obj(rec, "Certificate", search_transport.CERTIFICATE)["spec"]
    admin_spec = obj(rec, "Certificate", search_tls.ADMIN_CERTIFICATE)["spec"]
    return {
        "dir": directory,
        "cluster": cluster(rec)["spec"],
        "node": issue(transport_spec, transport_ca, directory, "node"),
        "renewed": issue(transport_spec, transport_ca, directory, "renewed"),
        # the same without client auth (cert-manager's usages when none are given lack it): the control case
        "server_only": issue({**transport_spec, "usages": ["server auth", "digital signature"]}, transport_ca, directory, "server-only"),
        "admin": issue(admin_spec, http_ca, directory, "admin"),
        "http_ca": http_ca,
    }


def openssl(*args: str) -> subprocess.CompletedProcess:
    binary = require_binary("openssl", "openssl", extra_paths=("/usr/bin",))
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_the_node_certificate_verifies_for_server_and_client_auth_and_nothing_else(pki):
    _key, cert, ca = pki["node"]
    for purpose in ("sslserver", "sslclient"):
        result = openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", str(ca), "-purpose", purpose, str(cert))
        assert result.returncode == 0 and ": OK" in result.stdout, (purpose, result.stdout, result.stderr)
    # the admin certificate (HTTP CA) does not verify against the transport CA, and is a client certificate only
    _admin_key, admin_cert, http_ca = pki["admin"]
    assert openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", str(ca), str(admin_cert)).returncode != 0
    assert openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", str(http_ca), "-purpose", "sslclient", str(admin_cert)).returncode == 0
    assert openssl("verify", "-no-CApath", "-no-CAstore", "-CAfile", str(http_ca), "-purpose", "sslserver", str(admin_cert)).returncode != 0


def test_the_subjects_are_the_dns_opensearch_compares(pki):
    transport = pki["cluster"]["security"]["tls"]["transport"]
    certs = [pki["node"][1], pki["admin"][1]]
    rfc2253 = [openssl("x509", "-in", str(c), "-noout", "-subject", "-nameopt", "RFC2253").stdout.strip().removeprefix("subject=") for c in certs]
    assert rfc2253 == [transport["nodesDn"][0], transport["adminDn"][0]]
    # exact: nodes_dn has no wildcard
    assert java(pki, "principal", *map(str, certs)) == sorted([transport["nodesDn"][0], transport["adminDn"][0]])
    assert transport["nodesDn"] != transport["adminDn"]


def node_hostnames(spec: dict[str, Any]) -> list[str]:
    """Every node of every pool by the names its StatefulSet's governing Service gives it."""
    service, names = spec["general"]["serviceName"], []
    for pool in spec["nodePools"]:
        for i in range(pool["replicas"]):
            pod = f"opensearch-{pool['component']}-{i}"
            names += [f"{pod}.{service}.{NS}.svc.cluster.local", f"{pod}.{service}.{NS}.svc", f"{pod}.{service}.{NS}"]
    return names


def mutual_tls(server: tuple[Path, Path, Path], client: tuple[Path, Path, Path], hostname: str) -> str:
    """One handshake on loopback: the server requires a client certificate from its CA, the client checks the
    server's certificate and name. Returns the client certificate's subject as the server saw it, or the error."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server[1], server[0])
    server_ctx.load_verify_locations(server[2])
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(client[1], client[0])
    client_ctx.load_verify_locations(client[2])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: dict[str, str] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert(binary_form=True)
                seen["peer"] = x509.load_der_x509_certificate(peer).subject.rfc4514_string() if peer else ""
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as error:
            seen["server_error"] = str(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            tls.recv(2)
    except (ssl.SSLError, OSError) as error:
        seen.setdefault("client_error", str(error))
    thread.join(10)
    listener.close()
    return seen.get("peer") or f"refused: {seen}"


def test_nodes_talk_to_each_other_with_mutual_tls_under_every_node_name(pki):
    hostnames = node_hostnames(pki["cluster"])
    assert len(hostnames) == 9 and any("opensearch-witness-0" in h for h in hostnames)  # prod: two data nodes and the witness
    dn = pki["cluster"]["security"]["tls"]["transport"]["nodesDn"][0]
    for hostname in hostnames:
        assert mutual_tls(pki["node"], pki["node"], hostname) == dn, hostname
    # a renewed certificate (new key, same CA) and one still in use talk to each other: a rolling renewal works
    assert mutual_tls(pki["renewed"], pki["node"], hostnames[0]) == dn
    assert mutual_tls(pki["node"], pki["renewed"], hostnames[0]) == dn


def test_the_transport_layer_refuses_a_certificate_from_the_http_ca(pki):
    admin = pki["admin"]
    as_client = mutual_tls(pki["node"], (admin[0], admin[1], pki["node"][2]), node_hostnames(pki["cluster"])[0])
    assert as_client.startswith("refused") and "certificate" in as_client.lower(), as_client
    http_only = (pki["node"][0], pki["node"][1], admin[2])  # a client trusting only the HTTP CA refuses a node
    as_server = mutual_tls(pki["node"], http_only, node_hostnames(pki["cluster"])[0])
    assert as_server.startswith("refused") and "certificate verify failed" in as_server, as_server


def test_a_renewal_passes_the_hot_reload_checks(pki):
    """SslContextHandler.reloadSslContext (security 2.19.3) loads a changed certificate only if it is within its
    dates and keeps the subject, the issuer and the SANs: what cert-manager's renewal of our spec keeps."""
    old, new = (x509.load_pem_x509_certificate(pki[n][1].read_bytes()) for n in ("node", "renewed"))
    assert old.signature != new.signature and old.public_key() != new.public_key()  # a change, with a new key
    assert (old.subject, old.issuer) == (new.subject, new.issuer)
    san = x509.SubjectAlternativeName
    assert old.extensions.get_extension_for_class(san).value == new.extensions.get_extension_for_class(san).value
    now = dt.datetime.now(dt.UTC)
    assert new.not_valid_before_utc <= now < new.not_valid_after_utc


def test_the_jvm_accepts_the_node_certificate_both_ways_and_refuses_the_admin_one(pki):
    """JSSE, as the nodes run it: mutual TLS between two nodes (old and renewed certificate), each side checking the
    other's chain and usages; the admin certificate is refused as a transport client (other CA) and, being a
    client certificate only, as a server even by a client trusting its CA."""
    dn = pki["cluster"]["security"]["tls"]["transport"]["nodesDn"][0]
    node, renewed, admin = (list(map(str, pki[n])) for n in ("node", "renewed", "admin"))
    assert java(pki, "handshake", *node, *renewed) == [f"client-saw {dn}", f"server-saw {dn}"]
    refused = java(pki, "handshake", *node, admin[0], admin[1], node[2])
    assert any(line.startswith("server-refused") for line in refused), refused
    as_server = java(pki, "handshake", admin[0], admin[1], node[2], *admin)
    # JDK 17.0.21 puts the alert's name before the reason ("(certificate_unknown) Extended key usage ..."); earlier
    # updates print the reason alone
    assert any(line.startswith("client-refused javax.net.ssl.SSLHandshakeException: ")
               and "Extended key usage does not permit use for TLS server authentication" in line for line in as_server), as_server
    # why the node certificate needs client auth too: without it a node cannot open a connection to another
    server_only = java(pki, "handshake", *node, *map(str, pki["server_only"]))
    assert any(line.startswith("server-refused") and "Extended key usage does not permit use for TLS client authentication" in line
               for line in server_only), server_only
