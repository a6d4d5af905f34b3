"""Harbor: the registry for the stores' images and a proxy cache for each upstream registry, Trivy on.

Every value Harbor would otherwise randomise on each render (core, jobservice and registry secrets, the
XSRF key, the token-signing certificate, the registry htpasswd salt) comes from a generated secret or
from cert-manager, so that two renders are identical. The proxy-cache projects (`<registry>-proxy`) are
declared with the pulumiverse-harbor provider (an explicit provider at `https://<platform.registry.hostname>`,
logging in as admin with the generated password): one registry endpoint and one proxy-cache project per
upstream, Trivy scanning each artifact on push. Without a hostname Harbor is not reachable from where
Pulumi runs, so the projects wait until one is configured (docs/platform.md, "Harbor").

Reachable from outside through the shared Gateway once `platform.registry.hostname` is set: the chart's own
HTTPRoute (`expose.type: route`: `/api/`, `/service/`, `/v2/`, `/c/` to harbor-core, the rest to
harbor-portal; no nginx proxy then) attaches to the Gateway's `https-registry` listener, which the edge
layer adds with its certificate (components/edge/gateway.py); TLS ends there, so `externalURL` is
`https://<hostname>`. Envoy streams request bodies (no request buffering is configured), so there is no
size limit on a layer, as with Harbor's own nginx (`client_max_body_size 0`); what would cut a large push
or pull is Envoy's 15 s default route timeout, which `transfer_policy()` raises.

Once Harbor serves (`platform.registry.serving: true`), `mirrors()` gives the hosts layer one containerd
mirror per proxied registry (`https://<hostname>/v2/<project>`, overridePath), added to
`cluster.registryMirrors` by program.py; containerd falls back to the upstream when the mirror fails.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumiverse_harbor as harbor

from components import k8s as kube
from components.config.hosts import RegistryMirror
from components.config.model import StackConfig
from components.edge.gateway import EDGE_NAMESPACE, ENVOY_GATEWAY_NAMESPACE, GATEWAY_NAME, REGISTRY_LISTENER, REGISTRY_NAMESPACE
from components.platform.common import generated_secret, opaque_secret, service_namespace

HARBOR_NAMESPACE = REGISTRY_NAMESPACE
ROUTE_NAME = "harbor-route"  # the chart's HTTPRoute: `{{ template "harbor.route" }}` = <fullname>-route (_helpers.tpl)
# A push or pull of one layer is one request: Envoy's default route timeout (15 s, Envoy Gateway docs
# "HTTP Timeouts", https://gateway.envoyproxy.io/latest/tasks/traffic/http-timeouts/) would cut any large one.
# One hour moves a 10 GiB layer at ~3 MB/s; the stream idle timeout (5 min) still ends a stalled transfer.
TRANSFER_TIMEOUT = "1h"
SMALL = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
REGISTRY_USER = "harbor_registry_user"
# Upstream registry -> (the Harbor provider's provider_name, endpoint URL). The Terraform Harbor provider maps
# `github` to Harbor's `github-ghcr` adapter; any other registry is a plain `docker-registry` endpoint.
UPSTREAMS = {
    "docker.io": ("docker-hub", "https://hub.docker.com"),
    "quay.io": ("quay", "https://quay.io"),
    "ghcr.io": ("github", "https://ghcr.io"),
    "registry.k8s.io": ("docker-registry", "https://registry.k8s.io"),
}


def project_name(registry: str) -> str:
    return registry.replace(".", "-") + "-proxy"


def external_url(config: StackConfig) -> str:
    hostname = config.platform.registry.hostname
    return f"https://{hostname}" if hostname else f"http://harbor.{HARBOR_NAMESPACE}.svc"


def mirrors(config: StackConfig) -> list[RegistryMirror]:
    """The containerd mirrors the hosts use once Harbor serves (empty before)."""
    registry = config.platform.registry
    if not registry.serving or registry.hostname is None:
        return []
    return [
        RegistryMirror(registry=upstream, endpoint=f"https://{registry.hostname}/v2/{project_name(upstream)}", override_path=True)
        for upstream in registry.proxy_cache
    ]


def expose_values(config: StackConfig) -> dict[str, Any]:
    """With a hostname, the chart's HTTPRoute on the Gateway's registry listener; without, in-cluster only."""
    hostname = config.platform.registry.hostname
    if hostname is None:
        return {"type": "clusterIP", "tls": {"enabled": False}}
    return {
        "type": "route",
        "tls": {"enabled": False},  # TLS ends at the shared Gateway
        "route": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": EDGE_NAMESPACE,
                            "name": GATEWAY_NAME, "sectionName": REGISTRY_LISTENER}],
            "hosts": [hostname],
        },
    }


def transfer_policy(opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Harbor's route without Envoy's 15 s default request timeout (image layers are large)."""
    return kube.custom_object(
        "harbor-transfers", "gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy",
        metadata={"name": "harbor-transfers", "namespace": HARBOR_NAMESPACE, "labels": kube.labels("registry")},
        fields={"spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": ROUTE_NAME}],
            "timeout": {"http": {"requestTimeout": TRANSFER_TIMEOUT}},
        }},
        opts=opts,
    )


def harbor_values(config: StackConfig) -> dict[str, Any]:
    registry = config.platform.registry
    resources = registry.resources.as_k8s()
    storage_class = config.storage.default_class
    component = {"replicas": 1, "resources": resources}  # RWO volumes: one replica each (docs/platform.md)
    return {
        "expose": expose_values(config),
        "externalURL": external_url(config),
        "persistence": {
            "enabled": True,
            "resourcePolicy": "keep",
            "persistentVolumeClaim": {
                "registry": {"storageClass": storage_class, "size": registry.storage},
                "jobservice": {"jobLog": {"storageClass": storage_class, "size": "1Gi"}},
                "database": {"storageClass": storage_class, "size": registry.database_storage},
                "redis": {"storageClass": storage_class, "size": "1Gi"},
                "trivy": {"storageClass": storage_class, "size": registry.trivy_storage},
            },
        },
        "existingSecretAdminPassword": "harbor-admin",
        "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
        "existingSecretSecretKey": "harbor-encryption",
        "nginx": component,
        "portal": component,
        "core": {**component, "existingSecret": "harbor-core-secrets", "existingXsrfSecret": "harbor-core-secrets",
                 "secretName": "harbor-token-signing"},
        "jobservice": {**component, "existingSecret": "harbor-core-secrets", "existingSecretKey": "JOBSERVICE_SECRET"},
        "registry": {
            "registry": {"resources": resources},
            "controller": {"resources": resources},
            "replicas": 1,
            "existingSecret": "harbor-core-secrets",
            "existingSecretKey": "REGISTRY_HTTP_SECRET",
            "credentials": {"existingSecret": "harbor-registry-credentials"},
        },
        "trivy": {"enabled": True, "replicas": 1, "resources": resources},
        "database": {"type": "internal", "internal": {"resources": resources, "initContainer": {
            "migrator": {"resources": SMALL}, "permissions": {"resources": SMALL}}}},
        "redis": {"type": "internal", "internal": {"resources": resources}},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": config.platform.observability.service_monitors},
                    "exporter": {}},
        "exporter": {"resources": resources},
    }


class Registry(pulumi.ComponentResource):
    """Harbor with its generated secrets, its token-signing certificate and its proxy-cache projects."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions):
        super().__init__("magento:platform:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = service_namespace(HARBOR_NAMESPACE, "baseline", "registry", child, allow_from=[ENVOY_GATEWAY_NAMESPACE])
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        admin = generated_secret("harbor-admin-password", child)
        registry_password = random.RandomPassword("harbor-registry-password", length=32, special=False, opts=child)
        made = [
            opaque_secret("harbor-admin", "harbor-admin", HARBOR_NAMESPACE, {"HARBOR_ADMIN_PASSWORD": admin}, "registry", after_ns),
            opaque_secret("harbor-encryption", "harbor-encryption", HARBOR_NAMESPACE,
                          {"secretKey": generated_secret("harbor-secret-key", child, length=16)}, "registry", after_ns),
            opaque_secret("harbor-core-secrets", "harbor-core-secrets", HARBOR_NAMESPACE, {
                "secret": generated_secret("harbor-core-secret", child, length=16),
                "CSRF_KEY": generated_secret("harbor-xsrf-key", child, length=32),
                "JOBSERVICE_SECRET": generated_secret("harbor-jobservice-secret", child, length=16),
                "REGISTRY_HTTP_SECRET": generated_secret("harbor-registry-http-secret", child, length=16),
            }, "registry", after_ns),
            opaque_secret("harbor-registry-credentials", "harbor-registry-credentials", HARBOR_NAMESPACE, {
                "REGISTRY_PASSWD": pulumi.Output.secret(registry_password.result),
                "REGISTRY_HTPASSWD": pulumi.Output.secret(pulumi.Output.concat(REGISTRY_USER, ":", registry_password.bcrypt_hash)),
            }, "registry", after_ns),
            self._token_certificate(after_ns),
        ]
        self.chart = kube.chart("harbor", "harbor", namespace=HARBOR_NAMESPACE, values=harbor_values(config),
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, *made]))
        if config.platform.registry.hostname:
            transfer_policy(pulumi.ResourceOptions(parent=self, depends_on=[self.chart]))
        self.projects = self._proxy_projects(config, admin)
        self.register_outputs({"externalUrl": external_url(config), "proxyProjects": [project_name(r) for r in config.platform.registry.proxy_cache]})

    def _proxy_projects(self, config: StackConfig, admin: pulumi.Output[str]) -> list[harbor.Project]:
        """One registry endpoint and one proxy-cache project per upstream, through Harbor's API."""
        registry = config.platform.registry
        if registry.hostname is None:
            return []
        provider = harbor.Provider("harbor-api", url=f"https://{registry.hostname}", username="admin", password=admin,
                                   opts=pulumi.ResourceOptions(parent=self))
        opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[self.chart])
        projects = []
        for upstream in registry.proxy_cache:
            kind, url = UPSTREAMS.get(upstream, ("docker-registry", f"https://{upstream}"))
            endpoint = harbor.Registry(f"harbor-upstream-{project_name(upstream)}", name=upstream, provider_name=kind,
                                       endpoint_url=url, opts=opts)
            projects.append(harbor.Project(
                f"harbor-project-{project_name(upstream)}", name=project_name(upstream), registry_id=endpoint.registry_id,
                public=True, vulnerability_scanning=True, force_destroy=False, opts=opts,
            ))
        projects.append(harbor.Project("harbor-project-sites", name="sites", public=False, vulnerability_scanning=True,
                                       opts=opts))
        return projects

    def _token_certificate(self, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        """The token-signing key pair (Secret harbor-token-signing) from a self-signed cert-manager Issuer."""
        issuer = k8s.apiextensions.CustomResource(
            "harbor-token-issuer", api_version="cert-manager.io/v1", kind="Issuer",
            metadata={"name": "harbor-token-signing", "namespace": HARBOR_NAMESPACE, "labels": kube.labels("registry")},
            spec={"selfSigned": {}}, opts=opts,
        )
        return k8s.apiextensions.CustomResource(
            "harbor-token-certificate", api_version="cert-manager.io/v1", kind="Certificate",
            metadata={"name": "harbor-token-signing", "namespace": HARBOR_NAMESPACE, "labels": kube.labels("registry")},
            spec={
                "secretName": "harbor-token-signing", "commonName": "harbor-token-signing", "duration": "87600h",
                "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Never"},
                "issuerRef": {"name": "harbor-token-signing", "kind": "Issuer"},
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[issuer])),
        )
