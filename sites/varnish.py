"""A store's Varnish: a StatefulSet of `tiers.varnish.replicas` pods with Magento's VCL, and how a purge
reaches every one of them.

Choice (documented in docs/sites.md): **stable per-pod names, all listed in env.php `http_cache_hosts`**.
The pods are `varnish-0..N-1` under the headless Service `varnish-peers`; Magento sends one PURGE per
listed host, so each replica gets every purge without a broadcaster to run, scale or lose. The replica
count is fixed per site (changing it re-renders env.php, which rolls the PHP tiers with the new list).
Traffic from the WAF reaches the pods through the ClusterIP Service `varnish` (port 80 -> 6081); PURGE is
accepted only on the purge listener (6091) from the pod network, and the NetworkPolicy lets only the
store's PHP pods reach it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import versions
from sites.common import SiteContext, checksum, container_security, empty_dir, pod_spec
from sites.exporters import VARNISH_WORKDIR, varnish_exporter
from sites.runtime import varnish as runtime
from sites.runtime.nginx import HTTP_PORT as NGINX_PORT

VARNISH_NAME = "varnish"
PEERS_SERVICE = "varnish-peers"
VCL_CONFIG = "varnish-vcl"
SERVICE_PORT = 80
VARNISH_UID = 1000  # any non-root UID: varnishd's working directory is an emptyDir


class VarnishTier(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:Varnish", name, None, opts)
        site, tier = ctx.site, ctx.site.tiers.varnish
        child = pulumi.ResourceOptions(parent=self)
        from sites.nginx import NGINX_NAME

        vcl = runtime.varnish_vcl(
            site, backend_host=ctx.host(NGINX_NAME), backend_port=NGINX_PORT, purge_acl=[ctx.pod_cidr]
        )
        # Maintenance (release.maintenance) is part of the VCL: 503 outside the allow-list (sites/runtime/varnish.py).
        files = {"default.vcl": vcl}
        config = k8s.core.v1.ConfigMap(f"{name}-vcl", metadata=ctx.meta(VCL_CONFIG, VARNISH_NAME), data=files, opts=child)
        selector = ctx.pod_labels(VARNISH_NAME)

        def probe(period: int, failures: int) -> dict[str, Any]:
            return {"tcpSocket": {"port": "http"}, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}

        container = {
            "name": VARNISH_NAME,
            "image": versions.image("varnish").ref,
            "imagePullPolicy": "IfNotPresent",
            "command": [
                "varnishd", "-F", "-f", "/etc/varnish/default.vcl", "-n", VARNISH_WORKDIR,
                *runtime.varnishd_args(tier.resources.memory_limit),
            ],
            "ports": [
                {"name": "http", "containerPort": runtime.HTTP_PORT, "protocol": "TCP"},
                {"name": "purge", "containerPort": runtime.PURGE_PORT, "protocol": "TCP"},
            ],
            "resources": tier.resources.as_k8s(),
            "securityContext": container_security(VARNISH_UID),
            "startupProbe": probe(2, 30),
            "readinessProbe": probe(5, 2),
            "livenessProbe": probe(10, 3),
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
            "volumeMounts": [
                {"name": "vcl", "mountPath": "/etc/varnish", "readOnly": True},
                {"name": "work", "mountPath": "/var/lib/varnish"},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        volumes = [
            {"name": "vcl", "configMap": {"name": VCL_CONFIG}},
            empty_dir("work", "256Mi"),
            empty_dir("tmp", "64Mi"),
        ]
        peers = k8s.core.v1.Service(
            f"{name}-peers",
            metadata=ctx.meta(PEERS_SERVICE, VARNISH_NAME),
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": selector,
                "ports": [
                    {"name": "http", "port": runtime.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                    {"name": "purge", "port": runtime.PURGE_PORT, "targetPort": "purge", "protocol": "TCP"},
                ],
            },
            opts=child,
        )
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=ctx.meta(VARNISH_NAME, VARNISH_NAME),
            spec={
                "serviceName": PEERS_SERVICE,
                "replicas": tier.replicas,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate"},
                "template": {
                    "metadata": {"labels": ctx.labels(VARNISH_NAME), "annotations": {"magento.io/config-checksum": checksum(*files.values())}},
                    "spec": pod_spec(ctx, [container, varnish_exporter(VARNISH_UID, "work")], volumes, uid=VARNISH_UID, component=VARNISH_NAME),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, peers]),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=ctx.meta(VARNISH_NAME, VARNISH_NAME),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        if tier.replicas > 1:
            kube.disruption_budget(f"{name}-pdb", VARNISH_NAME, ctx.namespace, selector, component=VARNISH_NAME, opts=child)
        self.register_outputs({"service": VARNISH_NAME, "replicas": tier.replicas})
