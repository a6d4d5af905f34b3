"""TLS of the secrets store (OpenBao or Vault): a CA the program owns, the servers' certificate from it through
cert-manager, and the reload of a renewed certificate by the running servers.

* **The CA** (`ca_material`): an ECDSA P-256 key derived from a 64-character pulumi-random secret and a
  self-signed CA certificate (CA:TRUE, path length 0, valid 2026-2046), signed with deterministic ECDSA: the same
  seed gives the same bytes on every run (the approach of components/data/search_tls.py, with a label of its own,
  so this CA never equals a search CA). Its key lives only in the Pulumi state (secret) and in Secret
  `<backend>-ca` of the store's namespace, where the cert-manager CA Issuer `<backend>-ca` reads it.
* **The servers' certificate**: Certificate `<backend>-server` into Secret `<backend>-tls` (`tls.crt`, `tls.key`,
  and `ca.crt`, which cert-manager's CA issuer writes), for every name a client uses (`server_names`): the
  Service External Secrets reads, the active and standby Services, each `<backend>-N.<backend>-internal` a
  `retry_join` dials and the API address each server advertises, and 127.0.0.1 / ::1 / localhost for the CLI in
  the pod (`BAO_ADDR`) and port-forwards. 90 days, renewed 30 days before expiry, a new key each time
  (components/certificates.py leaf_spec). The chart waits for it Ready (pulumi.com/waitFor): the Secret exists before a pod mounts it.
* **Renewal reaches the running servers** (`reloader_container`): OpenBao 2.6 and Vault read `tls_cert_file` /
  `tls_key_file` once and again only on SIGHUP (OpenBao PR https://github.com/openbao/openbao/pull/3530:
  "loads tls_cert_file and tls_key_file only once at startup and rereads them only when the process receives a
  SIGHUP"; its `tls_auto_reload` landed after v2.6.2, issue openbao/openbao#3533; Vault docs, listener tcp
  `tls_cert_file`: "reloaded on SIGHUP"). A restart is no answer: every restart seals the server (Shamir, manual
  unseal). So a sidecar from the server's own image (no other image to trust or pin) watches the mounted files
  (the Secret is mounted as a directory, never with subPath, so the kubelet swaps renewed files in) and sends
  SIGHUP to the server when they change; the pod shares its process namespace (chart `server.shareProcessNamespace`)
  and both containers run as the chart's uid 100, so the signal needs no capability.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.certificates import WAIT_READY, CaMaterial, derive_ca, leaf_spec

PORT = 8200
# The API address each HA member may run as (the chart's StatefulSet is `<backend>`, its governing Service
# `<backend>-internal`); a standalone store runs member 0 only.
HA_MEMBERS = 3
LOOPBACK_IPS = ["127.0.0.1", "::1"]
# The CLI's environment variables: OpenBao's `BAO_*` (the chart sets BAO_ADDR), Vault's `VAULT_*`.
ENV_PREFIX = {"openbao": "BAO", "vault": "VAULT"}
# The server's process name, as each chart's preStop hook signals it (`kill -SIGTERM $(pidof bao|vault)`).
PROCESS = {"openbao": "bao", "vault": "vault"}
RELOAD_INTERVAL_SECONDS = 60
RELOADER_RESOURCES = {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}}
# POSIX sh (the images' busybox ash): SIGHUP the server once the mounted certificate or key changed; retried
# every interval while the server is not running yet. Each round touches a heartbeat file, which the liveness
# probe wants younger than three intervals (a stuck loop is restarted).
RELOADER_SCRIPT = """\
set -u
last=""
while :; do
  touch "$HEARTBEAT"
  now="$(cat "$TLS_DIR/tls.crt" "$TLS_DIR/tls.key" 2>/dev/null | md5sum)"
  if [ -z "$last" ]; then
    last="$now"
  elif [ "$now" != "$last" ]; then
    pids="$(pidof "$SERVER_PROCESS" || true)"
    if [ -n "$pids" ] && kill -HUP $pids; then
      echo "certificate changed: sent SIGHUP to $SERVER_PROCESS ($pids)"
      last="$now"
    fi
  fi
  sleep "$RELOAD_INTERVAL"
done
"""


HEARTBEAT = "/tmp/tls-reloader.alive"  # the images' /tmp (the chart sets no read-only root filesystem)
HEARTBEAT_CHECK = f'test -n "$(find "$HEARTBEAT" -mmin -{3 * RELOAD_INTERVAL_SECONDS // 60} 2>/dev/null)"'


def ca_secret(backend: str) -> str:
    return f"{backend}-ca"


def issuer(backend: str) -> str:
    return f"{backend}-ca"


def server_secret(backend: str) -> str:
    return f"{backend}-tls"


def certificate_name(backend: str) -> str:
    return f"{backend}-server"


def tls_dir(backend: str) -> str:
    """Where the server container mounts Secret `<backend>-tls` (beside the chart's /<backend>/data)."""
    return f"/{backend}/tls"


def ca_file(backend: str) -> str:
    return f"{tls_dir(backend)}/ca.crt"


def service_host(backend: str) -> str:
    """The name every in-cluster client verifies: the chart's Service `<backend>` in namespace `<backend>`."""
    return f"{backend}.{backend}.svc"


def member_host(backend: str, index: int) -> str:
    """Member `index` under the StatefulSet's governing Service (short form: resolves in the store's namespace)."""
    return f"{backend}-{index}.{backend}-internal"


def api_addr(backend: str) -> str:
    """The API address each server advertises (redirects, `raft list-peers`): its own name under the headless
    Service, fully qualified so it resolves from any namespace, instead of the chart's pod IP (in no certificate).
    Kubernetes expands `$(<PREFIX>_K8S_POD_NAME)`, which both charts define before `<PREFIX>_API_ADDR`."""
    return f"https://$({ENV_PREFIX[backend]}_K8S_POD_NAME).{backend}-internal.{backend}.svc:{PORT}"


def server_names(backend: str) -> dict[str, list[str]]:
    """`dnsNames` and `ipAddresses` of the servers' certificate."""
    ns = backend
    dns: list[str] = []
    for service in (backend, f"{backend}-active", f"{backend}-standby", f"{backend}-internal", f"{backend}-ui"):
        dns += [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"]
    for index in range(HA_MEMBERS):
        member = member_host(backend, index)
        dns += [member, f"{member}.{ns}", f"{member}.{ns}.svc", f"{member}.{ns}.svc.cluster.local"]
    dns.append("localhost")
    return {"dnsNames": list(dict.fromkeys(dns)), "ipAddresses": list(LOOPBACK_IPS)}


def certificate_spec(backend: str) -> dict[str, object]:
    names = server_names(backend)
    return leaf_spec(server_secret(backend), issuer(backend), ["server auth", "digital signature"],
                     commonName=service_host(backend), **names)


def ca_material(seed: str, environment: str, backend: str) -> CaMaterial:
    """The secrets store's CA of `environment`, a pure function of the secret seed."""
    return derive_ca("magento/secrets-store-ca", environment, seed, f"Secrets store CA ({backend}, {environment})")


def reloader_container(backend: str, image: str, security_context: dict[str, Any]) -> dict[str, Any]:
    """The sidecar that SIGHUPs the server when cert-manager renewed its certificate (module docstring)."""
    return {
        "name": "tls-reloader",
        "image": image,
        "command": ["/bin/sh", "-c", RELOADER_SCRIPT],
        "env": [
            {"name": "TLS_DIR", "value": tls_dir(backend)},
            {"name": "SERVER_PROCESS", "value": PROCESS[backend]},
            {"name": "RELOAD_INTERVAL", "value": str(RELOAD_INTERVAL_SECONDS)},
            {"name": "HEARTBEAT", "value": HEARTBEAT},
        ],
        "volumeMounts": [{"name": "tls", "mountPath": tls_dir(backend), "readOnly": True}],
        "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", HEARTBEAT_CHECK]}, "initialDelaySeconds": RELOAD_INTERVAL_SECONDS,
                          "periodSeconds": RELOAD_INTERVAL_SECONDS, "failureThreshold": 3},
        "resources": RELOADER_RESOURCES,
        "securityContext": security_context,
    }


class SecretsStoreTls(pulumi.ComponentResource):
    """The store's CA (seed, Secret, CA Issuer) and the servers' Certificate; `ca_cert` is the public PEM."""

    ca_cert: pulumi.Output[str]

    def __init__(self, name: str, backend: str, environment: str, namespace: k8s.core.v1.Namespace,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:platform:SecretsStoreTls", name, None, opts)
        seed = random.RandomPassword(f"{name}-ca-seed", length=64, special=False, opts=pulumi.ResourceOptions(parent=self))
        material = pulumi.Output.secret(seed.result).apply(lambda value: ca_material(value, environment, backend))
        cert = material.apply(lambda m: m.cert_pem)
        labels = kube.labels("secrets")
        self.ca_secret = k8s.core.v1.Secret(
            f"{name}-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ca_secret(backend), namespace=backend, labels=labels),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert, "tls.key": material.apply(lambda m: m.key_pem), "ca.crt": cert},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self.issuer = kube.custom_object(
            f"{name}-issuer", "cert-manager.io/v1", "Issuer",
            metadata={"name": issuer(backend), "namespace": backend, "labels": labels},
            fields={"spec": {"ca": {"secretName": ca_secret(backend)}}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, self.ca_secret]),
        )
        self.certificate = kube.custom_object(
            f"{name}-certificate", "cert-manager.io/v1", "Certificate",
            metadata={"name": certificate_name(backend), "namespace": backend, "labels": labels, "annotations": WAIT_READY},
            fields={"spec": certificate_spec(backend)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, self.issuer]),
        )
        # The certificate is public (the stack output operators give the pulumi-vault provider and `bao -ca-cert`).
        self.ca_cert = pulumi.Output.unsecret(cert)
        self.register_outputs({"caSecret": ca_secret(backend), "serverSecret": server_secret(backend)})
