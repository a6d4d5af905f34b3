"""RabbitMQ 4.1: the cluster operator and the messaging topology operator (release manifests), one
RabbitmqCluster of 1 or 3 members, and per store a vhost (quorum queues by default), a user and its
permissions as topology resources.

The two manifests both carry Namespace `rabbitmq-system`. A transform can change an object a ConfigFile
registers but not leave it out, so the cluster operator's manifest owns the Namespace (with our Pod
Security labels) and the topology operator's copy is marked as that owner's, applied with the same content
and retained on delete: deleting the topology operator never deletes the namespace both run in.

The cluster (namespace `rabbitmq`) runs the image pinned in versions.py, members spread one per failure
domain (required anti-affinity on hosts, zones as a hard spread constraint), a PodDisruptionBudget letting
a drain take one member, `pause_minority` partition handling (a member cut off from the majority stops
rather than diverge), and the Prometheus plugin, which the operator's Service exposes on port 15692
(scraped by a ServiceMonitor once the Prometheus Operator CRDs exist). Pods run at the `restricted` level.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import versions
from components.config.model import StackConfig
from components.data.tenancy import Credential, QueueTenancy
from components.layer import service_monitors
from components.network_policy import MONITORING_NAMESPACE, namespace_isolation
from components.placement import HOST_KEY, spread_constraints, storage_domains

OPERATOR_NAMESPACE = "rabbitmq-system"
NAMESPACE = "rabbitmq"
CLUSTER = "rabbitmq"
HOST = f"{CLUSTER}.{NAMESPACE}.svc.cluster.local"
AMQP_PORT = 5672
PROMETHEUS_PORT = 15692
POD_LABELS = {"app.kubernetes.io/name": CLUSTER}  # what the operator labels the cluster's pods with
SHARED_ANNOTATION = "magento.io/owned-by"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _is_operator_namespace(props: dict[str, Any]) -> bool:
    return props.get("kind") == "Namespace" and (props.get("metadata") or {}).get("name") == OPERATOR_NAMESPACE


def own_operator_namespace(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """The cluster operator's Namespace: ours, with Pod Security labels (the operators run as non-root)."""
    if not _is_operator_namespace(args.props):
        return None
    props = copy.deepcopy(dict(args.props))
    meta = props.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **kube.labels("rabbitmq-operators"), **kube.pod_security_labels("restricted")}
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def share_operator_namespace(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """The topology operator's copy of the Namespace: the same object, marked as the cluster operator's and
    never deleted by this manifest."""
    owned = own_operator_namespace(args)
    if owned is None:
        return None
    meta = owned.props["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), SHARED_ANNOTATION: "rabbitmq-cluster-operator"}
    return pulumi.ResourceTransformResult(
        props=owned.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


def cluster_spec(config: StackConfig, failure_domains: int) -> dict[str, Any]:
    """The RabbitmqCluster spec (schema: rabbitmq.com rabbitmqcluster_v1beta1)."""
    service = config.data.rabbitmq
    members = config.replicas_for(service)
    pod_security = {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                    "seccompProfile": {"type": "RuntimeDefault"}}
    template_spec: dict[str, Any] = {
        "securityContext": pod_security,
        "containers": [{"name": "rabbitmq", "securityContext": RESTRICTED}],
        "initContainers": [{"name": "setup-container", "securityContext": RESTRICTED}],
    }
    shared_hosts = members > storage_domains(config)
    if members > 1:
        # zones the members may not use (the witness: tainted, no volumes) do not count as empty domains
        template_spec["topologySpreadConstraints"] = [
            {**c, "nodeTaintsPolicy": "Honor"} for c in spread_constraints(POD_LABELS, failure_domains)
        ]
    term = {"topologyKey": HOST_KEY, "labelSelector": {"matchLabels": POD_LABELS}}
    affinity = None
    if members > 1:
        # one member per host where there are enough hosts with storage; else (two servers and a witness) the
        # third member shares a server: the cluster survives losing the server that holds one member only
        affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
                    if shared_hosts else {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "replicas": members,
        "image": versions.image("rabbitmq").ref,
        "resources": service.resources.as_k8s(),
        "persistence": {"storageClassName": config.storage.default_class, "storage": service.storage},
        "affinity": affinity,
        "rabbitmq": {
            "additionalPlugins": ["rabbitmq_prometheus"],
            "additionalConfig": "\n".join([
                "cluster_partition_handling = pause_minority",
                "default_queue_type = quorum",
                "vm_memory_high_watermark.relative = 0.6",
                "disk_free_limit.absolute = 2GB",
                "log.console.level = info",
            ]),
        },
        "override": {"statefulSet": {"spec": {"template": {"spec": template_spec}}}},
    }


@dataclass(frozen=True)
class RabbitMQArgs:
    config: StackConfig
    failure_domains: int


class RabbitMQ(pulumi.ComponentResource):
    """Operators, cluster, and per store a vhost, user and permissions; `queues[site]` is each store's tenancy."""

    queues: dict[str, QueueTenancy]

    def __init__(self, name: str, args: RabbitMQArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:RabbitMQ", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        cluster_operator = kube.manifest(
            "rabbitmq-cluster-operator", "rabbitmq-cluster-operator",
            opts=pulumi.ResourceOptions(parent=self, transforms=[own_operator_namespace]),
        )
        topology_operator = kube.manifest(
            "rabbitmq-topology-operator", "rabbitmq-topology-operator",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_operator], transforms=[share_operator_namespace]),
        )
        namespace = kube.namespace(f"{name}-namespace", NAMESPACE, level="restricted", component="rabbitmq", opts=child)
        namespace_isolation(f"{name}-isolation", NAMESPACE, allow_from=[OPERATOR_NAMESPACE],
                            extra_ingress=[{"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": f"site-{s.name}"}}
                                                              for s in config.sites] or [{}],
                                            "toPorts": [{"ports": [{"port": str(AMQP_PORT), "protocol": "TCP"}]}]}],
                            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version="rabbitmq.com/v1beta1",
            kind="RabbitmqCluster",
            metadata={"name": CLUSTER, "namespace": NAMESPACE, "labels": kube.labels("rabbitmq")},
            spec={k: v for k, v in cluster_spec(config, args.failure_domains).items() if v is not None},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_operator, namespace]),
        )
        members = config.replicas_for(config.data.rabbitmq)
        if members > 1:
            kube.disruption_budget(f"{name}-pdb", CLUSTER, NAMESPACE, POD_LABELS, component="rabbitmq",
                                   opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        if service_monitors(config):
            kube.custom_object(
                f"{name}-monitor", "monitoring.coreos.com/v1", "ServiceMonitor",
                metadata={"name": CLUSTER, "namespace": NAMESPACE, "labels": kube.labels("rabbitmq")},
                fields={"spec": {"selector": {"matchLabels": POD_LABELS},
                                 "endpoints": [{"port": "prometheus", "path": "/metrics", "interval": "30s"},
                                               # Per-queue depth and consumers (observability's queue rules and dashboard).
                                               {"port": "prometheus", "path": "/metrics/detailed", "interval": "30s",
                                                "params": {"family": ["queue_coarse_metrics", "queue_consumer_count"]}}]}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )
        self.queues = {}
        topology = pulumi.ResourceOptions(parent=self, depends_on=[topology_operator, self.cluster])
        for site in config.sites:
            self.queues[site.name] = self._tenant(site.name, topology)
        self.register_outputs({"host": HOST, "members": members, "monitoring": MONITORING_NAMESPACE})

    def _tenant(self, site: str, opts: pulumi.ResourceOptions) -> QueueTenancy:
        """A store's vhost (quorum queues by default), user (credentials from a Secret we write) and permissions."""
        ref = {"name": CLUSTER}
        user = f"{site}-amqp"  # not a substring of any plain name (the policy treats the whole Secret as secret)
        password = random.RandomPassword(f"rabbitmq-{site}-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self)).result
        secret_name = f"rabbitmq-{site}-credentials"
        secret = k8s.core.v1.Secret(
            f"rabbitmq-{site}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=NAMESPACE, labels=kube.labels("rabbitmq")),
            type="Opaque",
            string_data={"username": user, "password": pulumi.Output.secret(password)},
            opts=opts,
        )
        meta = {"namespace": NAMESPACE, "labels": kube.labels("rabbitmq", **{"magento.io/site": site})}
        vhost = k8s.apiextensions.CustomResource(
            f"rabbitmq-{site}-vhost", api_version="rabbitmq.com/v1beta1", kind="Vhost",
            metadata={"name": f"{site}-vhost", **meta},
            spec={"name": site, "defaultQueueType": "quorum", "deletionPolicy": "retain", "rabbitmqClusterReference": ref},
            opts=opts,
        )
        account = k8s.apiextensions.CustomResource(
            f"rabbitmq-{site}-user", api_version="rabbitmq.com/v1beta1", kind="User",
            metadata={"name": f"{site}-user", **meta},
            spec={"tags": [], "importCredentialsSecret": {"name": secret_name}, "rabbitmqClusterReference": ref},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
        )
        k8s.apiextensions.CustomResource(
            f"rabbitmq-{site}-permission", api_version="rabbitmq.com/v1beta1", kind="Permission",
            metadata={"name": f"{site}-permission", **meta},
            spec={"vhost": site, "userReference": {"name": f"{site}-user"},
                  "permissions": {"configure": ".*", "write": ".*", "read": ".*"}, "rabbitmqClusterReference": ref},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[vhost, account])),
        )
        return QueueTenancy(host=HOST, port=AMQP_PORT, vhost=site, credential=Credential(user=user, password=pulumi.Output.secret(password)))
