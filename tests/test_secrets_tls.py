"""The secrets store serves TLS from the program's CA and every client verifies it (components/platform/secrets_tls.py).

What the chart renders as the provider applies it: the server configuration (parsed with a real HCL parser,
python-hcl2) names certificate files that a volume of the certificate's Secret mounts, the probes and the CLI speak
https with the CA, the Raft joins verify each leader under its own name, and every ClusterSecretStore and the
metrics scrape (ServiceMonitor) are https with the CA. Every host name a client dials, read from those rendered objects, is in the rendered Certificate. Then the
real check: a certificate issued from the program's CA as cert-manager would issue the rendered Certificate, served
by Python's `ssl` on loopback, accepted under every client name (Python's ssl and curl, the latter the way the
pulumi-vault provider reaches a port-forward: 127.0.0.1 verified under the Service name) and refused under a name
it does not carry. And the reloader sidecar, under busybox (the images' shell), SIGHUPs a server when the kubelet
swaps a renewed certificate into the mounted Secret, which then serves the new certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hcl2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hcl2.utils import SerializationOptions

from components import versions
from components.platform import secrets_tls
from offline.engine import Recording
from offline.references import check_references
from tests.conftest import recording_for
from tests.layer_helpers import chart, kind, rendered, schema_problems, stack_values
from tests.servers import require_binary


def _vault_recording() -> Recording:
    from offline.engine import run_program
    from offline.stackfile import settings_from_values

    values = stack_values("prod")
    values["platform"]["secretsBackend"] = "vault"
    return run_program(settings_from_values(values, stack="prod"))


_VAULT: list[Recording] = []


@pytest.fixture(params=["dev", "prod", "prod-vault"])
def store(request: pytest.FixtureRequest) -> tuple[Recording, str]:
    """A recording and its backend: OpenBao standalone (dev), OpenBao HA (prod), Vault HA (prod, secretsBackend vault)."""
    if request.param == "prod-vault":
        if not _VAULT:
            _VAULT.append(_vault_recording())
        return _VAULT[0], "vault"
    return recording_for(request.param), "openbao"


def _hcl(text: str) -> dict[str, Any]:
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

    def unquote(node: Any) -> Any:
        if isinstance(node, dict):
            return {key.strip('"'): unquote(value) for key, value in node.items()}
        if isinstance(node, list):
            return [unquote(value) for value in node]
        return node

    return unquote(hcl2.loads(text, serialization_options=options))


def server(rec: Recording, backend: str) -> dict[str, Any]:
    """The rendered StatefulSet's pod, the server container, its parsed configuration and the Certificate."""
    (statefulset,) = rendered(rec, backend, "StatefulSet")
    pod = statefulset.inputs["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    (config_map,) = [c for c in rendered(rec, backend, "ConfigMap") if c.inputs["metadata"]["name"] == f"{backend}-config"]
    (config_text,) = config_map.inputs["data"].values()
    (certificate,) = [c.inputs for c in kind(rec, "Certificate") if c.inputs["metadata"]["namespace"] == backend]
    return {"statefulset": statefulset.inputs, "pod": pod, "container": containers[backend], "containers": containers,
            "config": _hcl(config_text), "certificate": certificate}


def mounted_secret(pod: dict[str, Any], container: dict[str, Any], path: str) -> str:
    """The Secret whose volume `container` mounts at the directory holding `path` (whole directory, no subPath)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if str(Path(path).parent) == m["mountPath"]]
    assert "subPath" not in mount and mount.get("readOnly") is True
    return volumes[mount["name"]]["secret"]["secretName"]


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def expand(value: str, variables: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of an env value."""
    for name, replacement in variables.items():
        value = value.replace(f"$({name})", replacement)
    return value


def client_hosts(rec: Recording, backend: str) -> dict[str, set[str]]:
    """Every host a client of the store dials (or verifies, where it names a TLS server name), from rendered objects."""
    found = server(rec, backend)
    raft = found["config"]["storage"][0]["raft"]
    prefix = secrets_tls.ENV_PREFIX[backend]
    variables = env(found["container"])
    replicas = found["statefulset"]["spec"]["replicas"]
    api = {urlsplit(expand(variables[f"{prefix}_API_ADDR"], {f"{prefix}_K8S_POD_NAME": f"{backend}-{i}"})).hostname
           for i in range(replicas)}
    hosts = {
        "external secrets": {urlsplit(s.inputs["spec"]["provider"]["vault"]["server"]).hostname for s in kind(rec, "ClusterSecretStore")},
        "retry_join": {urlsplit(j["leader_api_addr"]).hostname for j in raft.get("retry_join", [])}
        | {j["leader_tls_servername"] for j in raft.get("retry_join", [])},
        "cli in the pod": {urlsplit(variables[f"{prefix}_ADDR"]).hostname},
        "api address": api,
        "services": {f"{s.inputs['metadata']['name']}.{backend}.svc" for s in rendered(rec, backend, "Service")},
    }
    hosts["metrics scrape"] = {e["tlsConfig"]["serverName"] for m in rendered(rec, backend, "ServiceMonitor") for e in m.inputs["spec"]["endpoints"]}
    providers = rec.of_type("pulumi:providers:vault")
    if providers:
        (provider,) = providers
        hosts["pulumi-vault provider"] = {provider.inputs["tlsServerName"]}
        hosts["port-forward"] = {urlsplit(provider.inputs["address"]).hostname}
    return hosts


# ------------------------------------------------------------------------------ rendered objects


def test_the_server_listens_with_the_mounted_certificate_and_probes_over_https(store):
    rec, backend = store
    found = server(rec, backend)
    (listener,) = [block["tcp"] for block in found["config"]["listener"]]
    assert "tls_disable" not in listener
    certificate = found["certificate"]["spec"]["secretName"]
    for key in ("tls_cert_file", "tls_key_file"):
        assert mounted_secret(found["pod"], found["container"], listener[key]) == certificate
    assert {Path(listener["tls_cert_file"]).name, Path(listener["tls_key_file"]).name} == {"tls.crt", "tls.key"}
    container = found["container"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS", probe
    prefix = secrets_tls.ENV_PREFIX[backend]
    variables = env(container)
    assert urlsplit(variables[f"{prefix}_ADDR"]).scheme == "https"
    # cert-manager's CA issuer writes ca.crt into the same Secret: the CLI in the pod verifies with it.
    assert Path(variables[f"{prefix}_CACERT"]).name == "ca.crt"
    assert mounted_secret(found["pod"], container, variables[f"{prefix}_CACERT"]) == certificate
    assert {p["name"] for p in container["ports"]} >= {"https"}
    # The chart waits for the Certificate (Ready, so its Secret exists) before its pods mount it.
    assert found["certificate"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_the_raft_joins_verify_each_leader_under_its_own_name(store):
    rec, backend = store
    found = server(rec, backend)
    joins = found["config"]["storage"][0]["raft"].get("retry_join", [])
    replicas = found["statefulset"]["spec"]["replicas"]
    assert len(joins) == (replicas if replicas > 1 else 0)
    for join in joins:
        url = urlsplit(join["leader_api_addr"])
        assert url.scheme == "https" and join["leader_tls_servername"] == url.hostname
        assert mounted_secret(found["pod"], found["container"], join["leader_ca_cert_file"]) == found["certificate"]["spec"]["secretName"]
        assert Path(join["leader_ca_cert_file"]).name == "ca.crt"


def test_every_cluster_secret_store_is_https_and_verifies_the_store_ca(store):
    rec, backend = store
    certificate = server(rec, backend)["certificate"]
    stores = kind(rec, "ClusterSecretStore")
    assert stores
    for cluster_store in stores:
        vault = cluster_store.inputs["spec"]["provider"]["vault"]
        assert urlsplit(vault["server"]).scheme == "https"
        assert vault["caProvider"] == {"type": "Secret", "name": certificate["spec"]["secretName"], "key": "ca.crt",
                                       "namespace": certificate["metadata"]["namespace"]}
    assert schema_problems(stores) == []


def test_the_metrics_scrape_is_https_verifying_the_store_ca_on_a_server_port(store):
    rec, backend = store
    certificate = server(rec, backend)["certificate"]
    (monitor,) = rendered(rec, backend, "ServiceMonitor")
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and "insecureSkipVerify" not in endpoint["tlsConfig"]
    assert endpoint["tlsConfig"]["ca"] == {"secret": {"name": certificate["spec"]["secretName"], "key": "ca.crt"}}
    assert monitor.inputs["metadata"]["namespace"] == certificate["metadata"]["namespace"]  # a Secret of its own namespace
    selector = monitor.inputs["spec"]["selector"]["matchLabels"]
    services = [s.inputs for s in rendered(rec, backend, "Service")
                if selector.items() <= (s.inputs["metadata"].get("labels") or {}).items()]
    assert services and all(endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in services)


def test_every_name_a_client_uses_is_in_the_certificate(store):
    rec, backend = store
    spec = server(rec, backend)["certificate"]["spec"]
    names = set(spec["dnsNames"]) | set(spec["ipAddresses"])
    hosts = client_hosts(rec, backend)
    assert hosts["external secrets"] and hosts["cli in the pod"] and hosts["api address"] and hosts["metrics scrape"]
    for client, wanted in hosts.items():
        assert wanted <= names, f"{client}: {sorted(wanted - names)} not in the certificate"


def test_the_ca_issuer_and_certificate_are_schema_valid_and_their_secrets_known(prod):
    objects = [r.inputs for r in prod.resources if r.is_kubernetes_object]
    problems = [str(p) for p in check_references(objects) if "openbao" in str(p)]
    assert problems == []
    store_objects = [r for r in kind(prod, "Certificate") + kind(prod, "Issuer") if r.inputs["metadata"]["namespace"] == "openbao"]
    assert {r.inputs["kind"] for r in store_objects} == {"Certificate", "Issuer"}
    assert schema_problems(store_objects) == []
    # Without the Certificate, nothing produces the Secret the servers mount and External Secrets reads.
    without = [o for o in objects if not (o["kind"] == "Certificate" and o["metadata"].get("namespace") == "openbao")]
    missing = [str(p) for p in check_references(without) if "openbao-tls" in str(p)]
    assert missing, "the references check does not notice the servers' Secret missing"


def test_the_reloader_runs_the_server_image_in_a_shared_process_namespace(store):
    rec, backend = store
    found = server(rec, backend)
    assert found["pod"]["shareProcessNamespace"] is True
    reloader = found["containers"]["tls-reloader"]
    pin = versions.image(backend)
    assert reloader["image"] == found["container"]["image"] == pin.ref
    assert pin.tag == versions.chart(backend).app_version.removeprefix("v")
    assert env(reloader)["SERVER_PROCESS"] in found["container"]["lifecycle"]["preStop"]["exec"]["command"][-1]
    listener_dir = str(Path(found["config"]["listener"][0]["tcp"]["tls_cert_file"]).parent)
    assert env(reloader)["TLS_DIR"] == listener_dir
    assert mounted_secret(found["pod"], reloader, f"{listener_dir}/tls.crt") == found["certificate"]["spec"]["secretName"]
    assert reloader["resources"]["limits"] and reloader["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert chart(rec, backend).inputs["values"]["global"]["tlsDisable"] is False


def test_the_stack_outputs_the_public_ca_the_secret_holds(stack_recording):
    """What operators write to platform.secrets.caCertFile (`pulumi stack output secretsStoreCaCert`): plain, the
    certificate of the CA Secret the Issuer signs with, a CA, and never the key."""
    output = stack_recording.stack_outputs["secretsStoreCaCert"]
    (ca_secret,) = [r.inputs for r in kind(stack_recording, "Secret") if r.inputs["metadata"]["name"] == secrets_tls.ca_secret("openbao")]
    (issuer,) = [r.inputs for r in kind(stack_recording, "Issuer") if r.inputs["metadata"]["namespace"] == "openbao"]
    assert issuer["spec"]["ca"]["secretName"] == ca_secret["metadata"]["name"]
    assert output["secret"] is False and output["value"] == ca_secret["stringData"]["tls.crt"] == ca_secret["stringData"]["ca.crt"]
    assert "PRIVATE KEY" not in output["value"]
    cert = x509.load_pem_x509_certificate(output["value"].encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_the_provider_verifies_an_https_address_and_an_http_one_is_only_the_switch(run):
    """An https address (the default) is verified with the CA file under the Service's name; an http address, for
    the one `up` that switches a running store (runbook), carries no TLS settings the provider would fail on."""
    values = stack_values("dev")
    values["platform"]["secrets"]["address"] = "http://127.0.0.1:8200"
    (plain,) = run(values, stack="dev").of_type("pulumi:providers:vault")
    assert plain.inputs["address"] == "http://127.0.0.1:8200"
    assert "caCertFile" not in plain.inputs and "tlsServerName" not in plain.inputs
    (verified,) = recording_for("dev").of_type("pulumi:providers:vault")
    assert urlsplit(verified.inputs["address"]).scheme == "https"
    assert verified.inputs["caCertFile"] == "build/secrets-store-ca.crt" and verified.inputs["tlsServerName"] == "openbao.openbao.svc"


# ------------------------------------------------------------------------------ the real check


def issue(spec: dict[str, Any], ca: secrets_tls.CaMaterial, directory: Path, name: str) -> tuple[Path, Path, Path]:
    """What cert-manager's CA issuer writes for the Certificate `spec`: tls.key (PKCS#8), tls.crt, ca.crt."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans = [x509.DNSName(n) for n in spec.get("dnsNames", [])] + [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.get("ipAddresses", [])]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=int(spec["duration"].removesuffix("h"))))
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "tls.key", directory / "tls.crt", directory / "ca.crt"
    paths[0].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_text(ca.cert_pem)
    return paths


# A TLS server on loopback that reads its certificate once and again on SIGHUP (how OpenBao 2.6 and Vault treat
# tls_cert_file), answering each connection with an HTTP "ok". Run under the server's process name.
SERVER = """
import signal, socket, ssl, sys, threading
directory, port_file = sys.argv[1], sys.argv[2]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.minimum_version = ssl.TLSVersion.TLSv1_2
def load(*_):
    context.load_cert_chain(f"{directory}/tls.crt", f"{directory}/tls.key")
load()
signal.signal(signal.SIGHUP, load)
listener = socket.create_server(("127.0.0.1", 0))
open(port_file, "w").write(str(listener.getsockname()[1]))
while True:
    connection, _ = listener.accept()
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            request = b""
            while b"\\r\\n\\r\\n" not in request:  # read the whole request: closing on unread bytes resets the connection
                chunk = tls.recv(4096)
                if not chunk:
                    break
                request += chunk
            tls.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    except (ssl.SSLError, OSError):
        pass
"""


class TlsServer:
    def __init__(self, tmp: Path, directory: Path, process: str = "server"):
        executable = tmp / process  # the process's name is its executable's (what pidof matches)
        executable.symlink_to(Path(sys.executable).resolve())
        port_file = tmp / "port"
        self.process = subprocess.Popen([str(executable), "-c", SERVER, str(directory), str(port_file)])
        deadline = time.monotonic() + 15
        while not (port_file.exists() and port_file.read_text()):
            assert time.monotonic() < deadline and self.process.poll() is None, "the TLS server did not start"
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def served_certificate(port: int, name: str, ca: Path) -> x509.Certificate:
    """Connect to 127.0.0.1:`port` verifying the server as `name` against `ca` (hostname or IP checked)."""
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert tls.recv(1024).startswith(b"HTTP/1.0 200 OK")
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_certificate_issued_for_the_rendered_names_is_verified_by_every_client(stack, tmp_path):
    rec = recording_for(stack)
    spec = server(rec, "openbao")["certificate"]["spec"]
    ca = secrets_tls.ca_material("x" * 64, stack, "openbao")
    _, _, ca_file = issue(spec, ca, tmp_path / "tls", "openbao")
    tls = TlsServer(tmp_path, tmp_path / "tls")
    try:
        names = set().union(*client_hosts(rec, "openbao").values())
        for name in sorted(names):
            assert served_certificate(tls.port, name, ca_file).subject.rfc4514_string() == f"CN={spec['commonName']}", name
        # A name the certificate does not carry (another namespace's store, a fourth member) is refused.
        for name in ("openbao.vault.svc", "openbao-3.openbao-internal", "10.0.0.1"):
            with pytest.raises(ssl.SSLCertVerificationError):
                served_certificate(tls.port, name, ca_file)
        # Another CA (the same derivation in the other environment) is not trusted.
        other = tmp_path / "other-ca.crt"
        other.write_text(secrets_tls.ca_material("x" * 64, "prod" if stack == "dev" else "dev", "openbao").cert_pem)
        with pytest.raises(ssl.SSLCertVerificationError):
            served_certificate(tls.port, "openbao.openbao.svc", other)
        # The pulumi-vault provider's case with curl: a port-forward on 127.0.0.1, verified as the Service name.
        curl = require_binary("curl", "curl")
        host = secrets_tls.service_host("openbao")
        result = subprocess.run([curl, "-sS", "--cacert", str(ca_file), "--resolve", f"{host}:{tls.port}:127.0.0.1",
                                 f"https://{host}:{tls.port}/"], capture_output=True, text=True, timeout=20)
        assert (result.returncode, result.stdout) == (0, "ok"), result.stderr
        refused = subprocess.run([curl, "-sS", "--cacert", str(ca_file), "--resolve", f"elsewhere.example:{tls.port}:127.0.0.1",
                                  f"https://elsewhere.example:{tls.port}/"], capture_output=True, text=True, timeout=20)
        assert refused.returncode == 60, refused.stderr  # CURLE_PEER_FAILED_VERIFICATION
    finally:
        tls.stop()


def _secret_volume(directory: Path, files: Path) -> None:
    """Write `files` into `directory` as the kubelet writes a Secret volume: a timestamped directory, `..data`
    pointing at it (swapped atomically by rename), and each key a symlink through `..data`."""
    directory.mkdir(exist_ok=True)
    version = directory / f"..{time.time_ns()}"
    shutil.copytree(files, version)
    link = directory / "..data_tmp"
    link.symlink_to(version.name)
    os.replace(link, directory / "..data")
    for key in ("tls.crt", "tls.key", "ca.crt"):
        if not (directory / key).is_symlink():
            (directory / key).symlink_to(f"..data/{key}")


def test_the_reloader_sighups_the_server_when_the_kubelet_swaps_in_a_renewed_certificate(tmp_path):
    busybox = require_binary("busybox", "busybox")
    spec = server(recording_for("dev"), "openbao")["certificate"]["spec"]
    ca = secrets_tls.ca_material("y" * 64, "dev", "openbao")
    mounted = tmp_path / "mounted"
    issue(spec, ca, tmp_path / "first", "openbao")
    _secret_volume(mounted, tmp_path / "first")
    container = secrets_tls.reloader_container("openbao", versions.image("openbao").ref, {})
    process = secrets_tls.PROCESS["openbao"]
    tls = TlsServer(tmp_path, mounted, process)
    variables = {e["name"]: e["value"] for e in container["env"]}
    variables.update(TLS_DIR=str(mounted), RELOAD_INTERVAL="1", HEARTBEAT=str(tmp_path / "alive"))
    # Put busybox's applets (sh, pidof, md5sum, cat, sleep, kill, touch, find) first on PATH, as in the images.
    applets = tmp_path / "bin"
    applets.mkdir()
    for applet in ("sh", "pidof", "md5sum", "cat", "sleep", "kill", "touch", "find"):
        (applets / applet).symlink_to(busybox)
    shell, flag, script = container["command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    probe_shell, probe_flag, probe = container["livenessProbe"]["exec"]["command"]
    assert (probe_shell, probe_flag) == ("/bin/sh", "-c")

    def alive() -> bool:
        return subprocess.run([str(applets / "sh"), "-c", probe], env={**variables, "PATH": str(applets)}, timeout=10).returncode == 0

    assert not alive()  # no heartbeat yet: the probe fails
    reloader = subprocess.Popen([str(applets / "sh"), flag, script], env={**variables, "PATH": str(applets)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ca_file = mounted / "ca.crt"
        deadline = time.monotonic() + 10
        while not alive():
            assert time.monotonic() < deadline, "the reloader's liveness probe never succeeds"
            time.sleep(0.2)
        first = served_certificate(tls.port, "openbao.openbao.svc", ca_file)
        time.sleep(2.5)  # a few rounds without a change: no signal, same certificate
        assert served_certificate(tls.port, "openbao.openbao.svc", ca_file).serial_number == first.serial_number
        issue(spec, ca, tmp_path / "renewed", "openbao")
        _secret_volume(mounted, tmp_path / "renewed")
        deadline = time.monotonic() + 10
        while served_certificate(tls.port, "openbao.openbao.svc", ca_file).serial_number == first.serial_number:
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            assert tls.process.poll() is None, "the server died (SIGHUP not handled as a reload)"
            time.sleep(0.2)
        assert tls.process.poll() is None and alive()
        # A heartbeat older than three intervals (a stuck loop) fails the probe.
        reloader.send_signal(signal.SIGSTOP)
        old = time.time() - 3 * secrets_tls.RELOAD_INTERVAL_SECONDS - 60
        os.utime(variables["HEARTBEAT"], (old, old))
        assert not alive()
        reloader.send_signal(signal.SIGCONT)
    finally:
        reloader.send_signal(signal.SIGTERM)
        output = reloader.communicate(timeout=10)[0]
        tls.stop()
    assert output.count("certificate changed: sent SIGHUP to bao") == 1, output
