"""A store's nginx tier: the release's nginx image (`<repository>-nginx:<tag>`, docker/Dockerfile.nginx:
nginx-unprivileged with the release's `pub/` copied from the PHP image of the same tag) with our
nginx.conf mounted, serving static files itself and passing PHP to the PHP-FPM tier.

Because nginx and PHP-FPM images are built from the same release, a release rolls nginx with its own
`pub/static` (docs/images.md). Media requests fall back to `get.php` on PHP-FPM (remote storage), or with
the pvc backend are read from the media volume (read-only here).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from sites.common import SiteContext, checksum, container_security, empty_dir, pod_spec
from sites.exporters import nginx_exporter
from sites.runtime import nginx as runtime
from sites.tiers import autoscaled

NGINX_NAME = "nginx"
NGINX_CONFIG = "nginx-conf"
NGINX_UID = 101  # nginx in nginxinc/nginx-unprivileged
DOCROOT = runtime.MAGE_ROOT + "/pub"


def nginx_image(ctx: SiteContext) -> str:
    """The release's nginx image, built beside the PHP image (docs/images.md)."""
    return f"{ctx.site.image.repository}-nginx:{ctx.site.image.tag}"


class NginxTier(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:Nginx", name, None, opts)
        from sites.php_fpm import FPM_NAME
        from sites.runtime.php_fpm import FPM_PORT

        site, tier = ctx.site, ctx.site.tiers.nginx
        conf = runtime.nginx_conf(
            site, fpm_address=f"{ctx.host(FPM_NAME)}:{FPM_PORT}", resources=tier.resources, trusted_cidrs=[ctx.pod_cidr]
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-conf", metadata=ctx.meta(NGINX_CONFIG, NGINX_NAME), data={"nginx.conf": conf},
            opts=pulumi.ResourceOptions(parent=self),
        )

        def probe(period: int, failures: int) -> dict[str, Any]:
            return {"httpGet": {"path": runtime.NGINX_HEALTH_PATH, "port": "http"}, "periodSeconds": period,
                    "timeoutSeconds": 2, "failureThreshold": failures}

        container = {
            "name": NGINX_NAME,
            "image": nginx_image(ctx),
            "imagePullPolicy": "IfNotPresent",
            "command": ["nginx", "-g", "daemon off;"],
            "ports": [{"name": "http", "containerPort": runtime.HTTP_PORT, "protocol": "TCP"}],
            "resources": tier.resources.as_k8s(),
            "securityContext": container_security(NGINX_UID),
            "startupProbe": probe(2, 30),
            "readinessProbe": probe(5, 2),
            "livenessProbe": probe(10, 3),
            # Let Varnish's probe and the endpoints drop this pod before nginx stops (then a graceful quit).
            "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5; nginx -s quit; sleep 5"]}}},
            "volumeMounts": [
                {"name": "conf", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf", "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ] + ([{"name": "media", "mountPath": f"{DOCROOT}/media", "readOnly": True}] if site.media.backend == "pvc" else []),
        }
        volumes = [{"name": "conf", "configMap": {"name": NGINX_CONFIG}}, empty_dir("tmp", "512Mi")]
        if site.media.backend == "pvc":
            volumes.append({"name": "media", "persistentVolumeClaim": {"claimName": "media", "readOnly": True}})
        template = {
            "metadata": {"labels": ctx.labels(NGINX_NAME), "annotations": {"magento.io/config-checksum": checksum(conf)}},
            "spec": pod_spec(ctx, [container, nginx_exporter()], volumes, uid=NGINX_UID, grace=30, component=NGINX_NAME),
        }
        self.deployment = autoscaled(self, name, ctx, NGINX_NAME, tier, template, runtime.HTTP_PORT, depends_on=[config])
        self.register_outputs({"service": NGINX_NAME})
