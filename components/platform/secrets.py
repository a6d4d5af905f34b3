"""The secrets store (OpenBao by default, Vault selectable) on Raft, and External Secrets reading it.

* Raft integrated storage on the ZFS StorageClass: one server (standalone) on one failure domain, three
  (HA, `retry_join` on each other) on three or more. Servers start sealed; how they are initialised and
  unsealed, and who holds the keys, is docs/runbooks/openbao-unseal.md.
* External Secrets (`external-secrets.io/v1`): a ClusterSecretStore per site (`site-<name>`), usable only
  from that site's namespace (`conditions`) and logging in with an OpenBao role whose policy reads only
  `magento/data/sites/<name>/*`; and `platform` for the platform namespaces. So a store can read or name
  no other store's secrets, even by writing an ExternalSecret for another path.
* TLS on the API listener from a CA the program owns (components/platform/secrets_tls.py): the servers serve
  Secret `<backend>-tls`, every client verifies it: External Secrets (`caProvider`), the Raft `retry_join`
  (`leader_ca_cert_file`, `leader_tls_servername`), the CLI in the pod (`BAO_CACERT`) and the program's
  pulumi-vault provider (components/platform/site_secrets.py).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import versions
from components.config.model import Site, StackConfig
from components.layer import service_monitors
from components.placement import anti_affinity, replicas, spread_constraints
from components.platform.common import WITNESS_TOLERATIONS, service_namespace, soft_spread
from components.platform.secrets_tls import (
    ENV_PREFIX,
    PORT,
    SecretsStoreTls,
    api_addr,
    ca_file,
    member_host,
    reloader_container,
    server_secret,
    service_host,
    tls_dir,
)

ESO_NAMESPACE = "external-secrets"
ESO_SERVICE_ACCOUNT = "external-secrets"
KV_MOUNT = "magento"
# Platform namespaces carry this label (components/platform/common.py); site namespaces never do.
PLATFORM_STORE_LABEL = {"magento.io/secret-store": "platform"}
KUBERNETES_AUTH_PATH = "kubernetes"


def store_namespace(config: StackConfig) -> str:
    return config.platform.secrets_backend  # "openbao" or "vault"


def store_address(config: StackConfig) -> str:
    """The in-cluster address External Secrets reads from (the chart's Service), over TLS."""
    return f"https://{service_host(store_namespace(config))}:{PORT}"


def server_labels(config: StackConfig) -> dict[str, str]:
    name = store_namespace(config)
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name, "component": "server"}


def ha(domains: int) -> bool:
    return domains >= 3


def _retry_join(name: str, index: int) -> str:
    """Join member `index` over TLS: its certificate is verified against our CA under its own name."""
    host = member_host(name, index)
    return (
        f'  retry_join {{\n    leader_api_addr = "https://{host}:{PORT}"\n'
        f'    leader_ca_cert_file = "{ca_file(name)}"\n    leader_tls_servername = "{host}"\n  }}\n'
    )


def _raft_config(config: StackConfig, domains: int) -> str:
    name = store_namespace(config)
    data = f"/{name}/data"
    joins = "".join(_retry_join(name, i) for i in range(3)) if ha(domains) else ""
    registration = 'service_registration "kubernetes" {}\n' if ha(domains) else ""
    certs = tls_dir(name)
    return (
        "ui = true\n"
        f'listener "tcp" {{\n  address = "[::]:{PORT}"\n  cluster_address = "[::]:8201"\n'
        f'  tls_cert_file = "{certs}/tls.crt"\n  tls_key_file = "{certs}/tls.key"\n  tls_min_version = "tls12"\n'
        '  telemetry {\n    unauthenticated_metrics_access = true\n  }\n}\n'
        f'storage "raft" {{\n  path = "{data}"\n{joins}}}\n'
        f"{registration}"
        'telemetry {\n  prometheus_retention_time = "30s"\n  disable_hostname = true\n}\n'
    )


def store_values(config: StackConfig, domains: int) -> dict[str, Any]:
    """OpenBao (or Vault) chart values: Raft on the ZFS class, standalone or HA by failure domains."""
    settings = config.platform.secrets
    labels = server_labels(config)
    backend = store_namespace(config)
    pin = {"openbao": versions.image("openbao"), "vault": versions.image("vault")}[backend]
    container_context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    server: dict[str, Any] = {
        "resources": settings.resources.as_k8s(),
        "dataStorage": {"enabled": True, "size": settings.storage, "storageClass": config.storage.default_class},
        "auditStorage": {"enabled": False},
        # With a path the chart probes over HTTPS (global.tlsDisable false) instead of `bao status -tls-skip-verify`:
        # 200 when unsealed (active or standby), 503 sealed, 501 not initialised.
        "readinessProbe": {"enabled": True, "path": "/v1/sys/health?standbyok=true"},
        "livenessProbe": {"enabled": True, "path": "/v1/sys/health?standbyok=true&sealedcode=204&uninitcode=204"},
        "affinity": anti_affinity(labels, required=False),
        "topologySpreadConstraints": soft_spread(labels),
        "tolerations": WITNESS_TOLERATIONS,
        # The chart's pod context (non-root uid 100, fsGroup 1000) is kept; the container drops every capability.
        "statefulSet": {"securityContext": {"container": container_context}},
        # TLS: the servers' certificate (Secret `<backend>-tls`, cert-manager) mounted as a directory (no subPath: the
        # kubelet swaps renewed files in), the CA for the CLI in the pod, and the sidecar that SIGHUPs the server on
        # renewal in a shared process namespace (secrets_tls.py).
        "image": _chart_image(backend, pin),
        "volumes": [{"name": "tls", "secret": {"secretName": server_secret(backend), "defaultMode": 0o440}}],
        "volumeMounts": [{"name": "tls", "mountPath": tls_dir(backend), "readOnly": True}],
        "extraEnvironmentVars": {f"{ENV_PREFIX[backend]}_CACERT": ca_file(backend)},
        "shareProcessNamespace": True,
        "extraContainers": [reloader_container(backend, pin.ref, container_context)],
    }
    if ha(domains):
        server["standalone"] = {"enabled": False}
        server["ha"] = {
            "enabled": True,
            "apiAddr": api_addr(backend),
            "replicas": 3,
            "raft": {"enabled": True, "setNodeId": True, "config": _raft_config(config, domains)},
            "disruptionBudget": {"enabled": True, "maxUnavailable": 1},
        }
    else:
        server["standalone"] = {"enabled": True, "config": _raft_config(config, domains)}
        # The chart reads `ha.apiAddr` in standalone mode too.
        server["ha"] = {"enabled": False, "apiAddr": api_addr(backend)}
    return {
        "global": {"tlsDisable": False},  # the chart's probes, ports and BAO_ADDR/VAULT_ADDR say https
        "injector": {"enabled": False},  # secrets reach pods through External Secrets only
        "csi": {"enabled": False},
        "server": server,
        "ui": {"enabled": True},
        "serverTelemetry": {"serviceMonitor": metrics_scrape(config)},
    }


def metrics_scrape(config: StackConfig) -> dict[str, Any]:
    """The chart's ServiceMonitor (`/v1/sys/metrics`, unauthenticated on the listener, the active server in HA): over
    https (the chart's scheme with TLS on) verifying the store's CA under the Service's name. Without `tlsConfig`
    the chart writes `insecureSkipVerify: true`."""
    backend = store_namespace(config)
    return {
        "enabled": service_monitors(config),
        "tlsConfig": {"ca": {"secret": {"name": server_secret(backend), "key": "ca.crt"}}, "serverName": service_host(backend)},
    }


def _chart_image(backend: str, pin: versions.ImagePin) -> dict[str, str]:
    """`server.image` from the pin: the openbao chart writes `registry/repository:tag`, the vault chart `repository:tag`."""
    if backend == "openbao":
        registry, repository = pin.repository.split("/", 1)
        return {"registry": registry, "repository": repository, "tag": pin.tag}
    return {"repository": pin.repository, "tag": pin.tag}


def external_secrets_values(config: StackConfig, domains: int) -> dict[str, Any]:
    resources = config.platform.secrets.external_secrets.as_k8s()
    count = replicas(domains)

    def spread(name: str) -> list[dict[str, Any]]:
        return spread_constraints({"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "external-secrets"}, domains)

    budget = {"enabled": count > 1, "minAvailable": 1}
    return {
        "installCRDs": True,
        "replicaCount": count,
        "leaderElect": count > 1,
        "resources": resources,
        "podDisruptionBudget": budget,
        "topologySpreadConstraints": spread("external-secrets"),
        "livenessProbe": {"enabled": True},
        "readinessProbe": {"enabled": True},
        "webhook": {"replicaCount": count, "resources": resources, "podDisruptionBudget": budget,
                    "topologySpreadConstraints": spread("external-secrets-webhook"), "livenessProbe": {"enabled": True}},
        "certController": {"replicaCount": count, "resources": resources, "podDisruptionBudget": budget,
                           "topologySpreadConstraints": spread("external-secrets-cert-controller"), "livenessProbe": {"enabled": True}},
    }


def site_role(site: Site) -> str:
    return f"site-{site.name}"


def site_path(site: Site, service: str) -> str:
    """The KV v2 path of one service's credentials of one site (under the `magento` mount)."""
    return f"sites/{site.name}/{service}"


def _store_spec(config: StackConfig, role: str) -> dict[str, Any]:
    backend = store_namespace(config)
    return {
        "vault": {
            "server": store_address(config),
            # The CA cert-manager writes beside the servers' certificate (`ca.crt` of `<backend>-tls`): External
            # Secrets verifies the store's certificate against it, under the Service name of `server`.
            "caProvider": {"type": "Secret", "name": server_secret(backend), "key": "ca.crt", "namespace": backend},
            "path": KV_MOUNT,
            "version": "v2",
            "auth": {
                "kubernetes": {
                    "mountPath": KUBERNETES_AUTH_PATH,
                    "role": role,
                    "serviceAccountRef": {"name": ESO_SERVICE_ACCOUNT, "namespace": ESO_NAMESPACE},
                }
            },
        }
    }


def cluster_secret_stores(config: StackConfig, opts: pulumi.ResourceOptions) -> list[k8s.apiextensions.CustomResource]:
    """One store per site (usable from that namespace only) and one for the platform namespaces."""
    stores = [
        k8s.apiextensions.CustomResource(
            f"secret-store-{site.name}",
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            metadata={"name": site_role(site), "labels": kube.labels("secrets", **{"magento.io/site": site.name})},
            spec={"provider": _store_spec(config, site_role(site)), "conditions": [{"namespaces": [f"site-{site.name}"]}]},
            opts=opts,
        )
        for site in config.sites
    ]
    stores.append(
        k8s.apiextensions.CustomResource(
            "secret-store-platform",
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            metadata={"name": "platform", "labels": kube.labels("secrets")},
            spec={
                "provider": _store_spec(config, "platform"),
                "conditions": [{"namespaceSelector": {"matchLabels": PLATFORM_STORE_LABEL}}],
            },
            opts=opts,
        )
    )
    return stores


class SecretsStore(pulumi.ComponentResource):
    """OpenBao/Vault and External Secrets with their ClusterSecretStores."""

    def __init__(self, name: str, config: StackConfig, domains: int, opts: pulumi.ResourceOptions):
        super().__init__("magento:platform:SecretsStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        backend = store_namespace(config)
        store_ns = service_namespace(backend, "restricted", "secrets", child, allow_from=[ESO_NAMESPACE])
        self.tls = SecretsStoreTls(f"{name}-tls", backend, config.environment, store_ns, child)
        self.ca_cert = self.tls.ca_cert
        self.store = kube.chart(backend, backend, namespace=backend, values=store_values(config, domains),
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[store_ns, self.tls.certificate]))
        eso_ns = service_namespace(ESO_NAMESPACE, "restricted", "secrets", child)
        self.external_secrets = kube.chart(
            "external-secrets", "external-secrets", namespace=ESO_NAMESPACE, values=external_secrets_values(config, domains),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[eso_ns]),
        )
        self.stores = cluster_secret_stores(config, pulumi.ResourceOptions(parent=self, depends_on=[self.external_secrets, self.store]))
        self.register_outputs({"backend": backend, "address": store_address(config), "highAvailability": ha(domains)})
