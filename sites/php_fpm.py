"""A store's PHP-FPM tier (PHP 8.3): the store's image running php-fpm with our pool and php.ini.

Sizes come from `components.sizing.fpm_pool` (children that fit the memory limit, OPcache, memory_limit).
Liveness and readiness use the FastCGI port, never `health_check.php` (it depends on the database and
Valkey: a database blip must not restart every PHP pod). A stopping pod quits gracefully (SIGQUIT lets
the children finish their requests) after the endpoints have dropped it.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import sizing
from sites.common import CONFIG_DIR, SiteContext, checksum, magento_container, magento_volumes, pod_spec
from sites.exporters import php_fpm_exporter
from sites.runtime import php_fpm as runtime
from sites.tiers import autoscaled

FPM_NAME = "php-fpm"
# STOP: on deletion the kubelet runs preStop, a `sleep` action (KEP-3960, GA in Kubernetes 1.34; we run
# components/versions.py KUBERNETES_MINORS, 1.35 and later), while the endpoints drop the pod; then it asks the
# runtime to stop the container with the remaining grace period. containerd sends the image's stop signal
# (pkg/cri/server/container_stop.go: image.ImageSpec.Config.StopSignal, SIGTERM only when the image has none):
# docker/Dockerfile.php-fpm sets STOPSIGNAL SIGQUIT, php-fpm's graceful stop (children finish their request
# within process_control_timeout, sites/runtime/php_fpm.py); SIGTERM would drop in-flight requests. SIGKILL
# follows only after terminationGracePeriodSeconds (REQUEST_TIMEOUT_SECONDS + 15, which covers the sleep and
# process_control_timeout). The exporter sidecar (hipages/php-fpm_exporter, FROM scratch, no STOPSIGNAL) gets
# SIGTERM at once: it holds no requests.
PRE_STOP_SLEEP_SECONDS = 5


def php_config(ctx: SiteContext) -> dict[str, str]:
    """The ConfigMap `magento-php`: FPM master+pool, php.ini of the web tier and of the CLI containers."""
    site = ctx.site
    pool = sizing.fpm_pool(site.tiers.php_fpm.resources, site.tiers.php_fpm.child_memory_mb)
    return {
        "php-fpm.conf": runtime.fpm_conf(site, pool),
        "web.ini": runtime.php_ini(site, pool),
        "cli.ini": runtime.php_cli_ini(site, site.tiers.cli.memory_limit),
        "release.ini": runtime.php_cli_ini(site, site.tiers.release.memory_limit),
    }


class PhpFpmTier(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, env_checksum: pulumi.Output[str], config: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:PhpFpm", name, None, opts)
        tier = ctx.site.tiers.php_fpm

        def probe(period: int, failures: int) -> dict[str, Any]:
            return {"tcpSocket": {"port": "fastcgi"}, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}

        container = magento_container(
            ctx, FPM_NAME, ["php-fpm", "-F", "-y", f"{CONFIG_DIR}/php/php-fpm.conf"], tier.resources.as_k8s(), ini="web",
            ports=[{"name": "fastcgi", "containerPort": runtime.FPM_PORT, "protocol": "TCP"}],
            startupProbe=probe(2, 60),
            readinessProbe=probe(5, 2),
            livenessProbe=probe(10, 3),
            # The kubelet's own sleep (no exec: the pod's KubeArmor policy blocks shells), then the runtime's stop
            # signal: the image's STOPSIGNAL SIGQUIT (see STOP above), a graceful stop.
            lifecycle={"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
        )
        template = {
            "metadata": {
                "labels": {**ctx.labels(FPM_NAME), "magento.io/php": "true"},
                "annotations": {"magento.io/config-checksum": checksum(*config.values()), "magento.io/env-checksum": env_checksum},
            },
            "spec": pod_spec(ctx, [container, php_fpm_exporter()], magento_volumes(ctx), grace=runtime.REQUEST_TIMEOUT_SECONDS + 15, component=FPM_NAME),
        }
        self.deployment = autoscaled(self, name, ctx, FPM_NAME, tier, template, runtime.FPM_PORT)
        self.register_outputs({"service": FPM_NAME})


