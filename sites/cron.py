"""A store's cron: a CronJob running `bin/magento cron:run` every minute, one run at a time.

Choice (docs/sites.md): a CronJob with `concurrencyPolicy: Forbid` rather than a long-running runner: a
run that dies leaves no process behind, job history is Kubernetes', and at most one `cron:run` exists.
Groups run in that one process (`use_separate_process=0`: forked group children are not tracked by a Job
pod). Each run first marks rows still 'running' from a run that was killed as errors (scripts/cron-stale.php),
and is itself killed after `cron.activeDeadlineSeconds`. The release Job suspends it during an upgrade.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from sites.common import SCRIPTS_DIR, SiteContext, magento_container, magento_volumes, pod_spec

CRON_NAME = "cron"
# Magento's cron groups: in-process, never forked (Kiwee's single-process setting).
CRON_GROUPS = ("default", "index", "consumers", "ddg_automation")


def cron_command(ctx: SiteContext) -> list[str]:
    deadline = ctx.site.cron.active_deadline_seconds
    return [
        "sh", "-c",
        f"php {SCRIPTS_DIR}/cron-stale.php app/etc/env.php {deadline} && exec php bin/magento cron:run --no-ansi",
    ]


class CronTier(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, env_checksum: pulumi.Output[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:Cron", name, None, opts)
        site = ctx.site
        env = [{"name": f"CONFIG__DEFAULT__SYSTEM__CRON__{group.upper()}__USE_SEPARATE_PROCESS", "value": "0"} for group in CRON_GROUPS]
        container = magento_container(
            ctx, CRON_NAME, cron_command(ctx), site.tiers.cli.as_k8s(),
            extra_mounts=[{"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True}],
        )
        container["env"] = container["env"] + env
        volumes = [*magento_volumes(ctx), {"name": "scripts", "configMap": {"name": "magento-release-scripts"}}]
        spec: dict = {
            "schedule": "* * * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 120,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {
                "metadata": {"labels": ctx.labels(CRON_NAME)},
                "spec": {
                    "activeDeadlineSeconds": site.cron.active_deadline_seconds,
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": {**ctx.labels(CRON_NAME), "magento.io/php": "true"},
                                     "annotations": {"magento.io/env-checksum": env_checksum}},
                        "spec": pod_spec(ctx, [container], volumes, grace=60, restartPolicy="Never"),
                    },
                },
            },
        }
        # `suspend` is left to the release Job while cron is enabled (it pauses and resumes it); a
        # disabled cron is suspended here.
        if not site.cron.enabled:
            spec["suspend"] = True
        self.cronjob = k8s.batch.v1.CronJob(
            f"{name}-cronjob", metadata=ctx.meta(CRON_NAME, CRON_NAME, ctx.delivery.wave(2)), spec=spec, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"cronJob": CRON_NAME})
