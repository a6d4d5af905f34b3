"""A store's metrics: one exporter sidecar in every nginx, PHP-FPM and Varnish pod, and one PodMonitor per store.

    nginx pod     nginx (stub_status on 127.0.0.1:8081)        <- nginx-prometheus-exporter  :9113 metrics
    PHP-FPM pod   php-fpm (pm.status_listen 127.0.0.1:9001)    <- hipages php-fpm_exporter   :9253 metrics
    Varnish pod   varnishd (-n /var/lib/varnish/work)          <- prometheus-varnish-exporter :9131 metrics

Each exporter reads its server over the pod's loopback (or, for Varnish, the shared memory log in the
working directory both containers mount: the `work` emptyDir, read-only in the exporter, same UID as
varnishd because the VSM files are mode 0640), so the status pages are never reachable from outside the
pod. Each sidecar's container port is named `metrics`; the store's PodMonitor `site-metrics` scrapes that
port on the three tiers' pods, and `sites/network.py` lets only Prometheus' namespace reach those ports.

The PodMonitor exists only when the platform installs the Prometheus Operator CRDs
(`platform.observability.serviceMonitors`; the site stack reads it from the platform stack's
`sitePlatform.serviceMonitors`). The sidecars run either way: they are small (EXPORTER_RESOURCES, counted by
`Site.compute()` and so by the quota check) and a PodMonitor added later finds them without a roll.

Images and their evidence are in components/versions.py (`nginx-exporter`, `php-fpm-exporter`,
`varnish-exporter`); the metric names rules/ and dashboards/ use are listed per exporter in
components/platform/observability/exporters.py.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import k8s as kube
from components import versions
from components.config.site_tiers import EXPORTER_RESOURCES
from sites.common import SiteContext, container_security
from sites.runtime import nginx as nginx_runtime
from sites.runtime import php_fpm as fpm_runtime

METRICS_PORT_NAME = "metrics"
NGINX_EXPORTER_PORT = 9113  # the exporter's default (--web.listen-address)
FPM_EXPORTER_PORT = 9253
VARNISH_EXPORTER_PORT = 9131
EXPORTER_PORTS = (NGINX_EXPORTER_PORT, FPM_EXPORTER_PORT, VARNISH_EXPORTER_PORT)
EXPORTER_UID = 65534  # nobody: the nginx and PHP-FPM exporters read nothing from disk
VARNISH_WORKDIR = "/var/lib/varnish/work"  # varnishd -n (sites/varnish.py), in the `work` emptyDir
PODMONITOR_NAME = "site-metrics"
SCRAPE_INTERVAL = "30s"


def _resources(tier: str) -> dict[str, Any]:
    return EXPORTER_RESOURCES[tier].as_k8s()


def _sidecar(name: str, image: str, args: list[str], port: int, tier: str, uid: int, **fields: Any) -> dict[str, Any]:
    # tcpSocket probes: an exporter that answers is alive even when its server is down (that is what
    # nginx_up / phpfpm_up report); an HTTP probe of /metrics would scrape the server on every probe.
    def probe(period: int, failures: int) -> dict[str, Any]:
        return {"tcpSocket": {"port": METRICS_PORT_NAME}, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}

    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "resources": _resources(tier),
        "securityContext": container_security(uid),
        "startupProbe": probe(2, 30),
        "readinessProbe": probe(10, 3),
        "livenessProbe": probe(20, 3),
        **fields,
    }


def nginx_exporter_args(status_address: str = f"127.0.0.1:{nginx_runtime.STATUS_PORT}", listen: str = f":{NGINX_EXPORTER_PORT}") -> list[str]:
    """nginx-prometheus-exporter's arguments (the same spelling works for Debian's 0.11 and 1.5.3)."""
    return [f"--nginx.scrape-uri=http://{status_address}{nginx_runtime.STATUS_PATH}", f"--web.listen-address={listen}"]


def php_fpm_exporter_args(status_address: str = f"127.0.0.1:{fpm_runtime.FPM_STATUS_PORT}", listen: str = f":{FPM_EXPORTER_PORT}") -> list[str]:
    """php-fpm_exporter's `server` arguments (the image's entrypoint is `/bin/php-fpm_exporter server`, its Dockerfile)."""
    return [f"--phpfpm.scrape-uri=tcp://{status_address}{fpm_runtime.FPM_STATUS_PATH}", f"--web.listen-address={listen}"]


def varnish_exporter_args(workdir: str = VARNISH_WORKDIR, listen: str = f":{VARNISH_EXPORTER_PORT}") -> list[str]:
    """prometheus-varnish-exporter's arguments: varnishstat -n `workdir` (Go flags: Debian's 1.6.1 and 1.8.3 alike)."""
    return ["-n", workdir, f"-web.listen-address={listen}"]


def nginx_exporter() -> dict[str, Any]:
    return _sidecar("nginx-exporter", versions.image("nginx-exporter").ref, nginx_exporter_args(), NGINX_EXPORTER_PORT, "nginx", EXPORTER_UID)


def php_fpm_exporter() -> dict[str, Any]:
    return _sidecar("php-fpm-exporter", versions.image("php-fpm-exporter").ref, php_fpm_exporter_args(), FPM_EXPORTER_PORT, "php-fpm", EXPORTER_UID)


def varnish_exporter(uid: int, work_volume: str) -> dict[str, Any]:
    """Runs varnishstat against varnishd's working directory: the same volume, read-only, as varnishd's UID."""
    return _sidecar(
        "varnish-exporter", versions.image("varnish-exporter").ref, varnish_exporter_args(), VARNISH_EXPORTER_PORT, "varnish", uid,
        volumeMounts=[{"name": work_volume, "mountPath": VARNISH_WORKDIR.rsplit("/", 1)[0], "readOnly": True}],
    )


def site_pod_monitor(name: str, ctx: SiteContext, tiers: list[str], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The store's PodMonitor: the `metrics` port of every pod of `tiers` in the store's namespace."""
    return kube.custom_object(
        name,
        "monitoring.coreos.com/v1",
        "PodMonitor",
        metadata=ctx.meta(PODMONITOR_NAME, "monitoring"),
        fields={"spec": {
            "selector": {
                "matchLabels": {"magento.io/site": ctx.site.name},
                "matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": sorted(tiers)}],
            },
            "podMetricsEndpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
            # the tier (nginx, php-fpm, varnish) as app_kubernetes_io_name on every series, beside namespace and pod
            "podTargetLabels": ["app.kubernetes.io/name"],
        }},
        opts=opts,
    )
