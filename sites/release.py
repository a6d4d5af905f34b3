"""A store's release: one Job per image tag, before the web tiers roll, and one after them.

    release-<tag>  pause cron + consumers, setup:db:status -> setup:upgrade --keep-generated, app:config:import
        |          (Pulumi waits for the Job to complete; the PHP tiers, nginx, cron and consumers depend on it)
    Deployments    roll to the new image (the old release serves until the new pods are ready)
        |
    resume-<tag>   resume cron + consumers

A failed upgrade fails the Job: Pulumi stops before any Deployment changes, so the old release keeps
serving (docs/runbooks/failed-release.md). The Job's `app/etc` is an emptyDir filled from the image and
env.php (setup:upgrade insists on a writable app/etc, magento2 #26292); every other path is as in the web pods.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from sites.common import (
    ENV_PHP_SECRET,
    SCRIPTS_DIR,
    SiteContext,
    container_security,
    magento_container,
    magento_volumes,
    pod_spec,
)
from sites.consumers import CONSUMER_ROLE
from sites.cron import CRON_NAME
from sites.runtime.nginx import MAGE_ROOT

RELEASE_ACCOUNT = "release"
RELEASE_TIMEOUT = "60m"  # the provider waits for the Job's Complete condition this long


def job_names(ctx: SiteContext) -> tuple[str, str]:
    return f"release-{ctx.site.release_name}", f"resume-{ctx.site.release_name}"


class Release(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, scaled_objects: Sequence[str], depends_on: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:Release", name, None, opts)
        site = ctx.site
        child = pulumi.ResourceOptions(parent=self)
        # Role and RoleBinding are guard rails (a site's AppProject denies them): Pulumi applies them even for a
        # gitops store; the ServiceAccount and the Jobs are rendered with the store's other workloads.
        guard = ctx.delivery.guard(child)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata=ctx.meta(RELEASE_ACCOUNT, "release"), automount_service_account_token=False, opts=child
        )
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=ctx.meta(RELEASE_ACCOUNT, "release"),
            rules=[
                {"apiGroups": ["batch"], "resources": ["cronjobs"], "resourceNames": [CRON_NAME], "verbs": ["get", "patch"]},
                {"apiGroups": ["keda.sh"], "resources": ["scaledobjects"], "resourceNames": list(scaled_objects) or ["none"],
                 "verbs": ["get", "patch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            ],
            opts=guard,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=ctx.meta(RELEASE_ACCOUNT, "release"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": RELEASE_ACCOUNT, "namespace": ctx.namespace}],
            opts=guard,
        )
        release_name, resume_name = job_names(ctx)
        kube_env = [
            {"name": "CRON_JOB", "value": CRON_NAME},
            {"name": "SCALED_OBJECTS", "value": ",".join(scaled_objects)},
            {"name": "CRON_SELECTOR", "value": f"app.kubernetes.io/name={CRON_NAME},magento.io/site={site.name}"},
            {"name": "CONSUMER_SELECTOR", "value": ",".join(f"{k}={v}" for k, v in {**CONSUMER_ROLE, "magento.io/site": site.name}.items())},
            {"name": "WAIT_SECONDS", "value": str(max(group.drain_seconds for group in site.consumers) + 300 if site.consumers else 300)},
            {"name": "SCRIPTS", "value": SCRIPTS_DIR},
            {"name": "RELEASE", "value": site.release_name},
        ]
        scripts = {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True}
        volumes = [*magento_volumes(ctx), {"name": "scripts", "configMap": {"name": "magento-release-scripts"}}, {"name": "app-etc", "emptyDir": {"sizeLimit": "16Mi"}}]
        # app/etc from the image plus env.php, in a writable emptyDir (the image's own files stay read-only).
        prepare = {
            "name": "app-etc",
            "image": ctx.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", f"cp -a {MAGE_ROOT}/app/etc/. /app-etc/ && cp /env/env.php /app-etc/env.php"],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
            "securityContext": container_security(),
            "volumeMounts": [{"name": "app-etc", "mountPath": "/app-etc"}, {"name": "env-php", "mountPath": "/env", "readOnly": True}],
        }
        upgrade = magento_container(ctx, "release", ["sh", f"{SCRIPTS_DIR}/release.sh"], site.tiers.release.as_k8s(), ini="release",
                                    extra_mounts=[scripts])
        upgrade["volumeMounts"] = [m for m in upgrade["volumeMounts"] if m["name"] != "env-php"] + [
            {"name": "app-etc", "mountPath": f"{MAGE_ROOT}/app/etc"}
        ]
        upgrade["env"] = upgrade["env"] + kube_env

        def job(resource: str, job_name: str, containers: list[dict], init: list[dict], after: Sequence[pulumi.Resource],
                wave: int) -> k8s.batch.v1.Job:
            return k8s.batch.v1.Job(
                resource,
                metadata=ctx.meta(job_name, "release", ctx.delivery.wave(wave)),
                spec={
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": 3600,
                    "template": {
                        "metadata": {"labels": {**ctx.labels("release"), "magento.io/php": "true"}},
                        "spec": pod_spec(ctx, containers, volumes, grace=60, service_account=RELEASE_ACCOUNT,
                                         restartPolicy="Never", initContainers=init),
                    },
                },
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[account, role, binding, *after], delete_before_replace=True,
                    custom_timeouts=pulumi.CustomTimeouts(create=RELEASE_TIMEOUT, update=RELEASE_TIMEOUT),
                ),
            )

        # gitops: Argo CD runs the release Job (wave 1) after everything unordered (wave 0), rolls the tiers
        # (wave 2, Delivery.wave) once it completes, and resumes after them (wave 3).
        self.release_job = job(f"{name}-upgrade", release_name, [upgrade], [prepare], depends_on, 1)
        resume = magento_container(ctx, "resume", ["php", f"{SCRIPTS_DIR}/kube.php", "resume"], site.tiers.cli.as_k8s(), extra_mounts=[scripts])
        resume["env"] = resume["env"] + kube_env
        self._resume_args = (f"{name}-resume", resume_name, [resume])
        self._job = job
        self.register_outputs({"job": release_name})

    def resume_after(self, rolled: Sequence[pulumi.Resource]) -> k8s.batch.v1.Job:
        """The resume Job, once the new release's Deployments and CronJob are in."""
        resource, job_name, containers = self._resume_args
        return self._job(resource, job_name, containers, [], rolled, 3)


__all__ = ["ENV_PHP_SECRET", "Release", "job_names"]
