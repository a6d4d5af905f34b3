"""A store's nginx tier: Magento's nginx configuration in the unprivileged nginx image, serving static
files itself and passing PHP to the PHP-FPM tier.

The document root (`pub/` without media) comes from the store's own image: an init container of the same
image and tag copies it into an emptyDir, so nginx serves exactly the release's static files (a release
rolls nginx with its new `pub/static`) without PHP and without a shared volume. Media requests fall back
to `get.php` on PHP-FPM (remote storage), or with the pvc backend are read from the media volume.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from sites.common import SiteContext, checksum, container_security, empty_dir, pod_spec
from sites.runtime import nginx as runtime
from sites.tiers import autoscaled

NGINX_NAME = "nginx"
NGINX_CONFIG = "nginx-conf"
NGINX_UID = 101  # nginx in nginxinc/nginx-unprivileged
DOCROOT = runtime.MAGE_ROOT + "/pub"


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

        # Copy the release's pub/ (static files, entry points nginx checks with try_files), never pub/media.
        copy = (
            f"set -eu; cd {DOCROOT}; for entry in * .[!.]*; do [ -e \"$entry\" ] || continue; "
            f"[ \"$entry\" = media ] && continue; cp -a \"$entry\" /docroot/; done; mkdir -p /docroot/media"
        )
        media_mount = {"name": "media", "mountPath": f"{DOCROOT}/media", "readOnly": True}
        init = {
            "name": "docroot",
            "image": ctx.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", copy],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "securityContext": container_security(NGINX_UID),
            "volumeMounts": [{"name": "docroot", "mountPath": "/docroot"}],
        }
        container = {
            "name": NGINX_NAME,
            "image": versions.image("nginx").ref,
            "imagePullPolicy": "IfNotPresent",
            "command": ["nginx", "-c", "/etc/magento/nginx/nginx.conf", "-g", "daemon off;"],
            "ports": [{"name": "http", "containerPort": runtime.HTTP_PORT, "protocol": "TCP"}],
            "resources": tier.resources.as_k8s(),
            "securityContext": container_security(NGINX_UID),
            "startupProbe": probe(2, 30),
            "readinessProbe": probe(5, 2),
            "livenessProbe": probe(10, 3),
            # Let Varnish's probe and the endpoints drop this pod before nginx stops (then a graceful quit).
            "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5; nginx -s quit -c /etc/magento/nginx/nginx.conf; sleep 5"]}}},
            "volumeMounts": [
                {"name": "conf", "mountPath": "/etc/magento/nginx", "readOnly": True},
                {"name": "docroot", "mountPath": DOCROOT, "readOnly": True},
                media_mount,
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        media = (
            {"name": "media", "persistentVolumeClaim": {"claimName": "media", "readOnly": True}}
            if site.media.backend == "pvc" else empty_dir("media", "16Mi")
        )
        volumes = [{"name": "conf", "configMap": {"name": NGINX_CONFIG}}, empty_dir("docroot", "4Gi"), media, empty_dir("tmp", "512Mi")]
        template = {
            "metadata": {"labels": ctx.labels(NGINX_NAME), "annotations": {"magento.io/config-checksum": checksum(conf)}},
            "spec": pod_spec(ctx, [container], volumes, uid=NGINX_UID, grace=30, component=NGINX_NAME, initContainers=[init]),
        }
        self.deployment = autoscaled(self, name, ctx, NGINX_NAME, tier, template, runtime.HTTP_PORT, depends_on=[config])
        self.register_outputs({"service": NGINX_NAME})
