"""A store's queue consumers: one Deployment per consumer group, scaled by KEDA on RabbitMQ queue depth.

Each group's pod runs its consumers through scripts/consumers.sh (restart after every drain or
`--max-messages`, stop cleanly on SIGTERM within `drainSeconds`). A ScaledObject per group scales the
Deployment between `minReplicas` (0: scaled to zero while its queues are empty) and `maxReplicas` on the
depth of each of its queues in the store's vhost; KEDA reads the depth with the store's own RabbitMQ user
(TriggerAuthentication `rabbitmq` -> Secret `rabbitmq-keda`). `--single-thread` is never passed: it would
stop two replicas consuming the same queue.
"""

from __future__ import annotations

from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config.site_tiers import ConsumerGroup
from sites.common import SCRIPTS_DIR, SiteContext, magento_container, magento_volumes, pod_spec
from sites.gitops import StoreEntries, store_secret

KEDA_SECRET = "rabbitmq-keda"
TRIGGER_AUTH = "rabbitmq"
CONSUMER_ROLE = {"magento.io/role": "consumer"}


def consumer_name(group: ConsumerGroup) -> str:
    return f"consumer-{group.name}"


def amqp_uri(ctx: SiteContext) -> pulumi.Output[str]:
    queue = ctx.tenancy.queue
    return pulumi.Output.secret(queue.credential.password.apply(
        lambda password: f"amqp://{quote(queue.credential.user, safe='')}:{quote(password, safe='')}@{queue.host}:{queue.port}/{quote(queue.vhost, safe='')}"
    ))


class Consumers(pulumi.ComponentResource):
    def __init__(self, name: str, ctx: SiteContext, env_checksum: pulumi.Output[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:Consumers", name, None, opts)
        site = ctx.site
        child = pulumi.ResourceOptions(parent=self)
        self.store_entries: StoreEntries = {}
        secret = store_secret(f"{name}-keda-secret", ctx, KEDA_SECRET, "consumer", "keda", {"host": amqp_uri(ctx)}, child, self.store_entries)
        auth = kube.custom_object(
            f"{name}-trigger-auth", "keda.sh/v1alpha1", "TriggerAuthentication",
            metadata=ctx.meta(TRIGGER_AUTH, "consumer"),
            fields={"spec": {"secretTargetRef": [{"parameter": "host", "name": KEDA_SECRET, "key": "host"}]}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret]),
        )
        self.deployments: list[k8s.apps.v1.Deployment] = []
        self.scaled_objects: list[str] = []
        for group in site.consumers:
            object_name = consumer_name(group)
            container = magento_container(
                ctx, "consumers", ["sh", f"{SCRIPTS_DIR}/consumers.sh", *group.consumers], site.tiers.cli.as_k8s(),
                extra_mounts=[{"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True}],
            )
            container["env"] = container["env"] + [
                {"name": "MAX_MESSAGES", "value": str(group.max_messages)},
                {"name": "POLL_SECONDS", "value": "5"},
            ]
            # A consumer's liveness is its process: the wrapper exits only when told to stop.
            volumes = [*magento_volumes(ctx), {"name": "scripts", "configMap": {"name": "magento-release-scripts"}}]
            selector = ctx.pod_labels(object_name)
            deployment = k8s.apps.v1.Deployment(
                f"{name}-{group.name}",
                metadata=ctx.meta(object_name, "consumer", ctx.delivery.wave(2)),
                spec={
                    # KEDA owns the count; a gitops manifest names none (Argo CD would undo every scaling).
                    **({} if ctx.delivery.gitops else {"replicas": group.min_replicas}),
                    "selector": {"matchLabels": selector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                    "template": {
                        "metadata": {
                            "labels": {**ctx.labels(object_name), **CONSUMER_ROLE, "magento.io/php": "true"},
                            "annotations": {"magento.io/env-checksum": env_checksum},
                        },
                        "spec": pod_spec(ctx, [container], volumes, grace=group.drain_seconds, component=object_name),
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["spec.replicas"]),
            )
            kube.custom_object(
                f"{name}-{group.name}-scaler", "keda.sh/v1alpha1", "ScaledObject",
                metadata=ctx.meta(object_name, "consumer"),
                fields={"spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name},
                    "minReplicaCount": group.min_replicas,
                    "maxReplicaCount": group.max_replicas,
                    "pollingInterval": 15,
                    "cooldownPeriod": 300,
                    "triggers": [
                        {"type": "rabbitmq", "name": f"queue-{i}", "authenticationRef": {"name": TRIGGER_AUTH},
                         "metadata": {"protocol": "amqp", "mode": "QueueLength", "value": str(group.queue_length),
                                      "activationValue": "0", "queueName": queue, "vhostName": ctx.tenancy.queue.vhost}}
                        for i, queue in enumerate(group.queues)
                    ],
                }},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, auth]),
            )
            if group.max_replicas > 1:
                kube.disruption_budget(f"{name}-{group.name}-pdb", object_name, ctx.namespace, selector, component="consumer", opts=child)
            self.deployments.append(deployment)
            self.scaled_objects.append(object_name)
        self.register_outputs({"groups": self.scaled_objects})
