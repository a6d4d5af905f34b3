"""The stores trust exactly OpenSearch's HTTP CA, end to end: the program's CA (components/data/search_tls.py)
signs the HTTP certificate through cert-manager, the same PEM reaches every store's namespace, every PHP pod
builds a trust store of the system CAs plus that CA, and php.ini points curl and PHP streams at it.

The real check: a TLS server on loopback with a certificate from a throwaway CA (openssl), the trust store
built by the init container's own command (the image's php -r), and the real php-cli with the generated php.ini: PHP verifies the
server the way Magento's OpenSearch client does (curl, verification on, no CA option of its own), rejects a
certificate from another CA, and without our php.ini settings rejects ours too; the bundle keeps every system CA.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from components.config import validate
from components.data import opensearch
from components.data.search_tls import CA_SECRET, HTTP_SECRET, ISSUER, ca_material
from components.data.tenancy import public_fields
from offline.engine import Recording
from offline.references import pod_template
from sites.common import CA_BUNDLE_COMMAND, CA_BUNDLE_PHP, SEARCH_CA, SYSTEM_CA_BUNDLE
from sites.runtime import php_fpm as runtime
from tests.layer_helpers import kind, schema_problems, stack_values
from tests.servers import require_binary

BEGIN = "-----BEGIN CERTIFICATE-----"


# ------------------------------------------------------------------------------------------- the CA itself


def test_the_ca_is_a_stable_function_of_its_seed():
    first, again = ca_material("s" * 64, "prod"), ca_material("s" * 64, "prod")
    assert first == again  # same bytes on every run: nothing rolls unless the seed is replaced
    assert ca_material("t" * 64, "prod").cert_pem != first.cert_pem
    assert ca_material("s" * 64, "dev").cert_pem != first.cert_pem
    cert = x509.load_pem_x509_certificate(first.cert_pem.encode())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    cert.verify_directly_issued_by(cert)  # self-signed
    key = serialization.load_pem_private_key(first.key_pem.encode(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    assert first.key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert cert.not_valid_after_utc.year == 2046


def test_the_ca_reaches_a_site_stack_as_a_public_field():
    value = {"search": {"host": "h", "ca_cert": "PEM", "credential": {"user": "u", "password": "secret"}}}
    assert public_fields(value) == {"search": {"host": "h", "ca_cert": "PEM", "credential": {"user": "u"}}}


# ------------------------------------------------------------------------------ rendered objects (prod)


def in_namespace(rec: Recording, namespace: str, kind_name: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in rec.own_objects() if r.inputs["kind"] == kind_name and r.inputs["metadata"]["name"] == name
                and r.inputs["metadata"].get("namespace") == namespace]
    return found


def site_namespaces() -> list[str]:
    return [f"site-{s.name}" for s in validate(stack_values("prod")).sites if s.deployment == "platform"]


def test_opensearch_serves_a_cert_manager_certificate_from_the_program_ca(prod: Recording):
    (cluster,) = kind(prod, "OpenSearchCluster")
    http = cluster.inputs["spec"]["security"]["tls"]["http"]
    # No caSecret: the operator mounts the whole Secret as a directory (ca.crt from cert-manager), never by subPath,
    # so a renewed certificate reaches the running nodes (search_tls.py).
    assert http == {"generate": False, "secret": {"name": HTTP_SECRET}}
    ca = in_namespace(prod, opensearch.NAMESPACE, "Secret", CA_SECRET)
    data = ca["stringData"]
    # cert-manager's CA issuer reads tls.*; ca.crt is the public half for checks by hand; no second copy of the key
    assert data["tls.crt"] == data["ca.crt"] and "ca.key" not in data
    issuer = in_namespace(prod, opensearch.NAMESPACE, "Issuer", ISSUER)
    assert issuer["spec"] == {"ca": {"secretName": CA_SECRET}}
    certificate = in_namespace(prod, opensearch.NAMESPACE, "Certificate", "opensearch-http")
    spec = certificate["spec"]
    assert spec["secretName"] == HTTP_SECRET and spec["issuerRef"] == {"group": "cert-manager.io", "kind": "Issuer", "name": ISSUER}
    assert opensearch.HOST in spec["dnsNames"]  # the name every store connects to (env.php)
    assert spec["privateKey"]["encoding"] == "PKCS8"  # the security plugin reads PKCS#8 keys only
    assert int(spec["renewBefore"].removesuffix("h")) < int(spec["duration"].removesuffix("h"))  # renewed before it expires
    records = [r for r in prod.own_objects() if r.inputs["kind"] in ("Issuer", "Certificate", "OpenSearchCluster")]
    assert schema_problems(records) == []
    assert prod.named("opensearch-http-tls-ca").is_secret("stringData")  # the CA key is a secret in state


def test_every_store_namespace_gets_exactly_that_ca(prod: Recording):
    ca = in_namespace(prod, opensearch.NAMESPACE, "Secret", CA_SECRET)["stringData"]["ca.crt"]
    assert ca.startswith(BEGIN) and ca.count(BEGIN) == 1
    namespaces = site_namespaces()
    assert len(namespaces) >= 2
    for namespace in namespaces:
        config_map = in_namespace(prod, namespace, "ConfigMap", SEARCH_CA)
        assert config_map["data"] == {"ca.crt": ca}, namespace


def php_pods(rec: Recording, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """Every pod template of the namespace with a container running PHP (our php.ini scan directory)."""
    found = []
    for record in rec.own_objects():
        obj = record.inputs
        template = pod_template(obj)
        if obj["metadata"].get("namespace") != namespace or template is None:
            continue
        if any(e["name"] == "PHP_INI_SCAN_DIR" for c in template["spec"]["containers"] for e in c.get("env", [])):
            found.append((f"{obj['kind']}/{obj['metadata']['name']}", template))
    return found


def test_every_php_pod_builds_the_bundle_first_and_every_php_container_reads_it(prod: Recording):
    for namespace in site_namespaces():
        pods = php_pods(prod, namespace)
        kinds = {name.split("/")[0] for name, _ in pods}
        assert {"Deployment", "CronJob", "Job"} <= kinds, kinds  # FPM and consumers, cron, release and resume
        for name, template in pods:
            spec = template["spec"]
            init = spec["initContainers"][0]
            assert init["name"] == "ca-bundle", name
            assert init["command"] == list(CA_BUNDLE_COMMAND)  # the image's PHP CLI, no shell (KubeArmor blocks shells)
            env = {e["name"]: e["value"] for e in init["env"]}
            assert env["SYSTEM_BUNDLE"] == SYSTEM_CA_BUNDLE and env["BUNDLE"] == runtime.CA_BUNDLE
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert volumes["search-ca"]["configMap"]["name"] == SEARCH_CA
            assert "emptyDir" in volumes["ca-bundle"]
            for container in spec["containers"]:
                if not any(e["name"] == "PHP_INI_SCAN_DIR" for e in container.get("env", [])):
                    continue  # an exporter sidecar (sites/exporters.py) runs no PHP
                mounts = {m["name"]: m for m in container["volumeMounts"]}
                assert mounts["ca-bundle"] == {"name": "ca-bundle", "mountPath": runtime.CA_BUNDLE_DIR, "readOnly": True}, name
                assert "search-ca" not in mounts  # PHP reads the bundle, never the CA alone
        for obj in (o.inputs for o in prod.own_objects()):
            if obj["metadata"].get("namespace") == namespace and obj["kind"] == "Deployment" and obj["metadata"]["name"] == "php-fpm":
                assert "magento.io/env-checksum" in obj["spec"]["template"]["metadata"]["annotations"]  # rolls on a new CA


def test_php_ini_of_every_kind_points_curl_and_streams_at_the_bundle(prod: Recording):
    for namespace in site_namespaces():
        config = in_namespace(prod, namespace, "ConfigMap", "magento-php")["data"]
        for key in ("web.ini", "cli.ini", "release.ini"):
            lines = [line.strip() for line in config[key].splitlines()]
            assert f"openssl.cafile = {runtime.CA_BUNDLE}" in lines, key
            assert f"curl.cainfo = {runtime.CA_BUNDLE}" in lines, key
        env_php = in_namespace(prod, namespace, "Secret", "magento-env")["stringData"]["env.php"]
        assert "'opensearch_server_hostname' => 'https://" in env_php  # TLS to OpenSearch, verified


# --------------------------------------------------------------------------------- the real check


def openssl(*args: str) -> None:
    binary = require_binary("openssl", "openssl", extra_paths=("/usr/bin",))
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    return key, cert


def make_server_cert(directory: Path, name: str, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    key, csr, cert, ext = (directory / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
            "-days", "1", "-extfile", str(ext))
    return key, cert


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"tagline":"The OpenSearch Project: https://opensearch.org/"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def tls_server(key: Path, cert: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def program_ca(directory: Path) -> tuple[Path, Path]:
    """The CA exactly as the program derives it (what Secret opensearch-http-ca holds and cert-manager signs with)."""
    material = ca_material("real-check-seed-" + "7" * 48, "prod")
    key, cert = directory / "program-ca.key", directory / "program-ca.crt"
    key.write_text(material.key_pem)
    cert.write_text(material.cert_pem)
    return key, cert


@pytest.fixture(params=["throwaway-ca", "program-ca"])
def pki(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    # The search CA: one openssl makes, and the program's own (P-256, path length 0) signing a leaf with its key.
    ca_key, ca_cert = make_ca(tmp_path, "search-ca") if request.param == "throwaway-ca" else program_ca(tmp_path)
    other_key, other_cert = make_ca(tmp_path, "other-ca")
    trusted = tls_server(*make_server_cert(tmp_path, "trusted", ca_key, ca_cert))
    foreign = tls_server(*make_server_cert(tmp_path, "foreign", other_key, other_cert))
    yield {"dir": tmp_path, "ca": ca_cert, "trusted": trusted[1], "foreign": foreign[1]}
    trusted[0].shutdown()
    foreign[0].shutdown()


def build_bundle(work: Path, extra_ca: Path) -> subprocess.CompletedProcess:
    """The init container's command as the rendered pod runs it (`php -n -r ...`, `php` found on PATH as in the
    image), with the real php-cli on this machine's system bundle."""
    require_binary("php", "php-cli", extra_paths=("/usr/bin",))
    (work / "ca").mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "SYSTEM_BUNDLE": SYSTEM_CA_BUNDLE, "EXTRA_CA": str(extra_ca), "BUNDLE": str(work / "ca" / "ca-bundle.crt")}
    return subprocess.run(list(CA_BUNDLE_COMMAND), env=env, capture_output=True, text=True, timeout=30)


# What Magento's OpenSearch client does (opensearch-php 2.4 on RingPHP's curl handler): curl with peer and host
# verification on and no CA option of its own; and a PHP stream (openssl.cafile), as the AWS SDK may use.
PROBE = r"""<?php
$url = 'https://localhost:' . $argv[1] . '/';
$ch = curl_init($url);
curl_setopt_array($ch, [CURLOPT_RETURNTRANSFER => true, CURLOPT_SSL_VERIFYPEER => true, CURLOPT_SSL_VERIFYHOST => 2, CURLOPT_TIMEOUT => 10]);
$body = curl_exec($ch);
echo 'curl: ', $body === false ? 'error ' . curl_error($ch) : 'ok ' . curl_getinfo($ch, CURLINFO_RESPONSE_CODE), "\n";
// RingPHP's CurlHandler reuses its handle after curl_reset(), which must keep the CA file from php.ini.
curl_reset($ch);
curl_setopt_array($ch, [CURLOPT_URL => $url, CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 10]);
$again = curl_exec($ch);
echo 'reused: ', $again === false ? 'error ' . curl_error($ch) : 'ok ' . curl_getinfo($ch, CURLINFO_RESPONSE_CODE), "\n";
$warnings = [];
set_error_handler(function (int $no, string $message) use (&$warnings) { $warnings[] = $message; return true; });
$stream = file_get_contents($url, false, stream_context_create(['http' => ['timeout' => 10]]));
restore_error_handler();
echo 'stream: ', $stream === false ? 'error ' . implode(' / ', $warnings) : 'ok', "\n";
echo 'cainfo: ', ini_get('curl.cainfo'), ' | ', ini_get('openssl.cafile'), "\n";
"""


def php_probe(work: Path, port: int, *, with_our_ini: bool) -> str:
    php = require_binary("php", "php-cli php-curl", extra_paths=("/usr/bin",))
    scan = work / "php-cli"
    scan.mkdir(exist_ok=True)
    ini = scan / "zz-magento.ini"
    site = validate(stack_values("prod")).sites[0]
    if with_our_ini:
        ini.write_text(runtime.php_cli_ini(site, "1Gi", ca_bundle=str(work / "ca" / "ca-bundle.crt")))
    elif ini.exists():
        ini.unlink()
    probe = work / "probe.php"
    probe.write_text(PROBE)
    # As in the pods: our directory appended to the compiled-in scan directory (the image's extensions).
    env = {"PATH": "/usr/bin:/bin", "PHP_INI_SCAN_DIR": f":{scan}", "HOME": str(work)}
    result = subprocess.run([php, str(probe), str(port)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_init_script_is_valid_php_and_refuses_a_missing_ca(tmp_path: Path):
    php = require_binary("php", "php-cli", extra_paths=("/usr/bin",))
    script = tmp_path / "ca-bundle.php"
    script.write_text("<?php\n" + CA_BUNDLE_PHP)
    lint = subprocess.run([php, "-n", "-l", str(script)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    empty = tmp_path / "empty.crt"
    empty.write_text("")
    result = build_bundle(tmp_path, empty)
    assert result.returncode != 0 and "no certificate" in result.stderr and "EXTRA_CA" in result.stderr
    assert not (tmp_path / "ca" / "ca-bundle.crt").exists()  # PHP never starts on half a trust store
    missing = build_bundle(tmp_path, tmp_path / "absent.crt")
    assert missing.returncode != 0 and "no certificate" in missing.stderr
    assert not (tmp_path / "ca" / "ca-bundle.crt").exists()


def test_the_init_script_fails_when_it_cannot_write_the_bundle(tmp_path: Path):
    _, ca = make_ca(tmp_path, "search-ca")
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "ca-bundle.crt.tmp").mkdir()  # the temporary file cannot be created
    result = build_bundle(tmp_path, ca)
    assert result.returncode != 0 and "cannot write" in result.stderr, result.stderr
    assert not (tmp_path / "ca" / "ca-bundle.crt").exists()


def test_php_with_the_generated_ini_and_bundle_trusts_the_search_ca_and_nothing_more(pki):
    work = pki["dir"]
    built = build_bundle(work, pki["ca"])
    assert built.returncode == 0, built.stderr
    count = Path(SYSTEM_CA_BUNDLE).read_text().count(BEGIN) + 1
    assert built.stdout == f"ca-bundle: {count} certificates in {work}/ca/ca-bundle.crt\n"
    bundle = (work / "ca" / "ca-bundle.crt").read_text()
    system = Path(SYSTEM_CA_BUNDLE).read_text()
    # Every system CA kept, byte for byte (S3 and payment APIs), and ours added once.
    assert bundle.startswith(system) and system.count(BEGIN) > 100
    assert bundle.count(BEGIN) == system.count(BEGIN) + 1 and bundle.endswith(pki["ca"].read_text())

    trusted = php_probe(work, pki["trusted"], with_our_ini=True)
    assert "curl: ok 200" in trusted and "reused: ok 200" in trusted and "stream: ok" in trusted, trusted
    assert f"cainfo: {work}/ca/ca-bundle.crt | {work}/ca/ca-bundle.crt" in trusted

    foreign = php_probe(work, pki["foreign"], with_our_ini=True)
    assert "curl: error SSL certificate problem" in foreign and "reused: error SSL certificate problem" in foreign, foreign
    assert "stream: error" in foreign and "certificate verify failed" in foreign, foreign

    # Without our php.ini the system store alone does not know the search CA: the settings are what trust it.
    plain = php_probe(work, pki["trusted"], with_our_ini=False)
    assert "curl: error SSL certificate problem" in plain and "stream: error" in plain, plain


def test_the_bundle_still_verifies_a_system_root_and_the_search_ca_alone_does_not(pki):
    work = pki["dir"]
    assert build_bundle(work, pki["ca"]).returncode == 0
    root = next((p for p in sorted(Path("/etc/ssl/certs").glob("ISRG_Root_X1*.pem"))), None)
    assert root is not None, "ca-certificates lacks ISRG Root X1"
    binary = require_binary("openssl", "openssl", extra_paths=("/usr/bin",))

    def verify(cafile: Path) -> bool:
        return subprocess.run([binary, "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(cafile), str(root)],
                              capture_output=True, timeout=30).returncode == 0

    assert verify(work / "ca" / "ca-bundle.crt")
    assert not verify(pki["ca"])

