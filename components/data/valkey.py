"""Valkey 8.1: an instance per store and purpose (cache, sessions), from the valkey-io chart.

One server (`valkey.replicas` 1, dev): each instance is the chart's standalone Deployment on a ZFS volume.
Three failure domains (prod): each instance is the chart's StatefulSet of a primary and two replicas, one per
failure domain, and our Sentinel (`sentinel.py`, the chart has none) moves the primary when it fails; a pod
that restarts asks Sentinel which pod is primary before it starts (`valkey_config.FOLLOW_PRIMARY_SCRIPT`).
Why an instance per store and purpose, and what each runs with: `valkey_config.py`.

Every password is a pulumi-random secret, stored in the instance's users Secret (the chart hashes them into
its ACL file at start); the store's own password is handed to the sites layer in its tenancy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import versions
from components.config.model import StackConfig
from components.data import valkey_config as vc
from components.data.tenancy import Credential, Sentinel, ValkeyStore
from components.layer import service_monitors
from components.network_policy import MONITORING_NAMESPACE
from components.placement import anti_affinity, spread_constraints, storage_domains

FOLLOW_PRIMARY_CONFIGMAP = "valkey-follow-primary"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def selector(instance: vc.Instance) -> dict[str, str]:
    """The pod labels the chart selects an instance by (templates/_helpers.tpl valkey.selectorLabels)."""
    return {"app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": instance.release}


def failover(config: StackConfig) -> bool:
    """Whether the instances replicate with Sentinel failover (3+ failure domains), or run standalone (1)."""
    return config.replicas_for(config.data.valkey) >= 3


def members(config: StackConfig) -> int:
    """Pods per instance: `valkey.replicas`, but no more than the failure domains that can hold a volume.

    Sentinel needs three failure domains; the data does not: on two servers and a storage-less witness
    (prod) each instance is a primary and one replica on the two servers, and the third Sentinel runs on
    the witness (it needs no volume).
    """
    wanted = config.replicas_for(config.data.valkey)
    return max(1, min(wanted, storage_domains(config))) if wanted > 1 else 1


def valkey_values(config: StackConfig, failure_domains: int, instance: vc.Instance, *, sentinel_host: str | None) -> dict[str, Any]:
    """Values of the valkey chart (0.11.0) for one instance."""
    valkey = config.data.valkey
    count = members(config)
    resources = valkey.store_resources(instance.purpose)
    image = versions.image("valkey")
    exporter = versions.image("redis-exporter")
    values: dict[str, Any] = {
        "fullnameOverride": instance.release,
        "image": {"registry": image.repository.split("/", 1)[0], "repository": image.repository.split("/", 1)[1], "tag": image.tag},
        "serviceAccount": {"create": True, "automount": False},
        "podLabels": {"magento.io/site": instance.site, "magento.io/valkey-purpose": instance.purpose},
        "resources": resources.as_k8s(),
        "initResources": valkey.helper.as_k8s(),
        "readinessProbe": {"enabled": True},
        "valkeyConfig": vc.server_config(instance.purpose, resources.memory_limit, valkey.maxmemory_percent),
        "auth": {"enabled": True, "usersExistingSecret": instance.users_secret, "aclUsers": vc.acl_users(instance.site)},
        "metrics": {
            "enabled": True,
            "exporter": {
                "image": {"registry": exporter.repository.split("/", 1)[0], "repository": exporter.repository.split("/", 1)[1],
                          "tag": exporter.tag},
                "resources": valkey.helper.as_k8s(),
                "securityContext": RESTRICTED_CONTAINER,
                "extraEnvs": {"REDIS_USER": vc.EXPORTER_USER},
            },
            "serviceMonitor": {"enabled": service_monitors(config)},
        },
    }
    if count > 1:
        values["replica"] = {
            "enabled": True,
            "replicas": count - 1,
            "replicationUser": vc.REPLICATION_USER,
            "disklessSync": True,
            # with two replicas, a primary cut off from both stops taking writes after 10 s (bounds what a
            # failover loses); with one, that would stop writes whenever the other server is down
            "minReplicasToWrite": 1 if count >= 3 else 0,
            "minReplicasMaxLag": 10,
            "persistence": {"size": valkey.storage, "storageClass": config.storage.default_class},
        }
        values["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
        values["topologySpreadConstraints"] = spread_constraints(selector(instance), failure_domains)
        values["affinity"] = anti_affinity(selector(instance), required=True)
        if sentinel_host:
            values["extraInitContainers"] = [_follow_primary(config, instance, sentinel_host)]
            values["extraVolumes"] = [
                {"name": "follow-primary", "configMap": {"name": FOLLOW_PRIMARY_CONFIGMAP, "defaultMode": 0o555}}
            ]
    else:
        values["dataStorage"] = {
            "enabled": True, "requestedSize": valkey.storage, "className": config.storage.default_class,
            "volumeName": "valkey-data", "keepPvc": True,
        }
        values["deploymentStrategy"] = "Recreate"  # one ReadWriteOnce volume: the old pod goes before the new one
    return values


def _follow_primary(config: StackConfig, instance: vc.Instance, sentinel_host: str) -> dict[str, Any]:
    image = versions.image("valkey")
    return {
        "name": "follow-primary",
        "image": image.ref,
        "command": ["/scripts/follow-primary.sh"],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SELF", "value": f"$(POD_NAME).{instance.headless}.{vc.NAMESPACE}.svc.{vc.CLUSTER_DOMAIN}"},
            {"name": "BOOTSTRAP", "value": instance.pod_host(0)},
            {"name": "MASTER", "value": instance.master},
            {"name": "SENTINEL_HOST", "value": sentinel_host},
            {"name": "SENTINEL_PORT", "value": str(vc.SENTINEL_PORT)},
            {"name": "PORT", "value": str(vc.PORT)},
        ],
        "securityContext": RESTRICTED_CONTAINER,
        "resources": config.data.valkey.helper.as_k8s(),
        "volumeMounts": [
            {"name": "valkey-data", "mountPath": "/data"},
            {"name": "follow-primary", "mountPath": "/scripts"},
            {"name": "valkey-users-secret", "mountPath": "/valkey-users-secret", "readOnly": True},
        ],
    }


@dataclass(frozen=True)
class ValkeyArgs:
    config: StackConfig
    failure_domains: int
    namespace: pulumi.Resource
    sentinel_password: pulumi.Output[str] | None  # the Sentinel user's password on every instance (prod)
    sentinel_host: str | None


class ValkeyInstance(pulumi.ComponentResource):
    """One store's cache or sessions: passwords, users Secret, network policy and the chart."""

    def __init__(self, instance: vc.Instance, args: ValkeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:ValkeyInstance", instance.release, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.instance = instance

        def password(user: str) -> pulumi.Output[str]:
            return random.RandomPassword(f"{instance.release}-{user}", length=32, special=False, opts=child).result

        self.passwords = {user: password(user) for user in (instance.site, vc.REPLICATION_USER, vc.EXPORTER_USER)}
        self.passwords[vc.SENTINEL_USER] = args.sentinel_password or password(vc.SENTINEL_USER)
        secret = k8s.core.v1.Secret(
            f"{instance.release}-users",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=instance.users_secret, namespace=vc.NAMESPACE, labels=kube.labels("valkey")),
            type="Opaque",
            string_data={user: pulumi.Output.secret(value) for user, value in self.passwords.items()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace]),
        )
        self._policy(instance, args)
        self.chart = kube.chart(
            instance.release,
            "valkey",
            namespace=vc.NAMESPACE,
            values=valkey_values(args.config, args.failure_domains, instance, sentinel_host=args.sentinel_host),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret, args.namespace]),
        )
        self.register_outputs({"release": instance.release})

    def _policy(self, instance: vc.Instance, args: ValkeyArgs) -> None:
        """Only the store's own namespace reaches the store's instance (besides its peers, Sentinel and metrics)."""
        site_namespace = f"site-{instance.site}"
        port = [{"ports": [{"port": str(vc.PORT), "protocol": "TCP"}]}]
        k8s.apiextensions.CustomResource(
            f"{instance.release}-ingress",
            api_version="cilium.io/v2",
            kind="CiliumNetworkPolicy",
            metadata={"name": f"{instance.release}-ingress", "namespace": vc.NAMESPACE, "labels": kube.labels("valkey")},
            spec={
                "description": f"Valkey {instance.purpose} of {instance.site}: its store, its own pods, Sentinel, metrics",
                "endpointSelector": {"matchLabels": selector(instance)},
                "ingress": [
                    {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": site_namespace}}], "toPorts": port},
                    {"fromEndpoints": [{"matchLabels": selector(instance)}], "toPorts": port},
                    {"fromEndpoints": [{"matchLabels": {"app.kubernetes.io/name": "valkey-sentinel"}}], "toPorts": port},
                    {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": MONITORING_NAMESPACE}}],
                     "toPorts": [{"ports": [{"port": "9121", "protocol": "TCP"}]}]},
                    {"fromEntities": ["host", "remote-node", "health"]},
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace]),
        )

    def store(self, sentinel: Sentinel | None) -> ValkeyStore:
        """What the store's Magento connects with (through Sentinel when there is one)."""
        return ValkeyStore(
            purpose=self.instance.purpose,
            host=self.instance.service_host,
            port=vc.PORT,
            database=0,
            credential=Credential(user=self.instance.site, password=pulumi.Output.secret(self.passwords[self.instance.site])),
            sentinel=Sentinel(sentinel.hosts, self.instance.master) if sentinel else None,
        )


def follow_primary_configmap(opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        FOLLOW_PRIMARY_CONFIGMAP,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=FOLLOW_PRIMARY_CONFIGMAP, namespace=vc.NAMESPACE, labels=kube.labels("valkey")),
        data={"follow-primary.sh": vc.FOLLOW_PRIMARY_SCRIPT},
        opts=opts,
    )


@dataclass(frozen=True)
class ValkeyServiceArgs:
    config: StackConfig
    failure_domains: int


class ValkeyService(pulumi.ComponentResource):
    """The `valkey` namespace, one instance per store and purpose, and Sentinel where instances fail over."""

    stores: dict[str, dict[str, ValkeyStore]]

    def __init__(self, name: str, args: ValkeyServiceArgs, opts: pulumi.ResourceOptions | None = None):
        from components.data.sentinel import HOSTS, SERVICE_HOST, SentinelArgs, ValkeySentinel
        from components.network_policy import namespace_isolation

        super().__init__("magento:data:Valkey", name, None, opts)
        config = args.config
        namespace = kube.namespace(f"{name}-namespace", vc.NAMESPACE, level="restricted", component="valkey",
                                   opts=pulumi.ResourceOptions(parent=self))
        namespace_isolation(f"{name}-isolation", vc.NAMESPACE, opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        instances = [vc.Instance(site.name, purpose) for site in config.sites for purpose in vc.PURPOSES]
        sentinel = None
        sentinel_password = None
        if failover(config) and instances:
            sentinel = ValkeySentinel(f"{name}-sentinel", SentinelArgs(config, args.failure_domains, instances, namespace),
                                      pulumi.ResourceOptions(parent=self))
            sentinel_password = sentinel.sentinel_password
            follow_primary_configmap(pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        client_sentinel = Sentinel(HOSTS, "") if sentinel else None
        self.stores = {}
        for instance in instances:
            built = ValkeyInstance(
                instance,
                ValkeyArgs(config, args.failure_domains, namespace, sentinel_password, SERVICE_HOST if sentinel else None),
                pulumi.ResourceOptions(parent=self),
            )
            self.stores.setdefault(instance.site, {})[instance.purpose] = built.store(client_sentinel)
        self.register_outputs({"instances": [i.release for i in instances], "sentinel": list(HOSTS) if sentinel else []})
