"""Valkey Sentinel: three Sentinels, one per failure domain, watching the primary of every Valkey instance.

The valkey chart 0.11.0 has no Sentinel, so this is our own typed StatefulSet. Failover behaviour (docs/data.md):
a primary that answers no Sentinel for `down-after-milliseconds` (5 s) is subjectively down; when two of the
three Sentinels agree (quorum 2) one of them is elected and promotes the most up-to-date replica, repoints
the other replica, and announces the new primary; clients that ask Sentinel (`get-master-addr-by-name`, as
Magento's Sentinel settings do) reconnect to it. The former primary, when it returns, is turned into a
replica: by Sentinel if it runs, and by the pod's follow-primary init step when it restarts. A primary cut
off from both replicas refuses writes after 10 s (`min-replicas-to-write 1`), which bounds what a partition
loses. With one failure domain down two Sentinels remain: still a quorum and a majority for the election.

Access: unauthenticated clients may only ask where a primary is (`user default` below); Sentinels talk to
each other as `peer`, and to the instances as the `sentinel` ACL user; the addresses are not secret, data
is behind each store's own password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import versions
from components.config.model import StackConfig
from components.data import valkey_config as vc
from components.data.valkey import RESTRICTED_CONTAINER
from components.placement import CONTROL_PLANE_TOLERATION, WITNESS_TOLERATION, anti_affinity, max_unavailable, spread_constraints

NAME = "valkey-sentinel"
HEADLESS = f"{NAME}-headless"
MEMBERS = 3
QUORUM = 2
DOWN_AFTER_MS = 5000
FAILOVER_TIMEOUT_MS = 60000
PEER_USER = "peer"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}
# What any client may ask a Sentinel: where a primary and its replicas and Sentinels are.
CLIENT_PERMISSIONS = (
    "nopass resetkeys resetchannels -@all +ping +role +client|setname "
    "+sentinel|get-master-addr-by-name +sentinel|master +sentinel|replicas +sentinel|slaves +sentinel|sentinels"
)


def pod_host(index: int) -> str:
    return f"{NAME}-{index}.{HEADLESS}.{vc.NAMESPACE}.svc.{vc.CLUSTER_DOMAIN}"


SERVICE_HOST = f"{NAME}.{vc.NAMESPACE}.svc.{vc.CLUSTER_DOMAIN}"
HOSTS = tuple(f"{pod_host(i)}:{vc.SENTINEL_PORT}" for i in range(MEMBERS))


def sentinel_config(
    instances: Sequence[vc.Instance],
    *,
    sentinel_password: str,
    peer_password: str,
    primary_host: Callable[[vc.Instance], str] = lambda instance: instance.pod_host(0),
    port: int = vc.SENTINEL_PORT,
    valkey_port: int = vc.PORT,
) -> str:
    """sentinel.conf (before the init step adds `sentinel announce-ip` and follows the current primaries)."""
    peer_hash = hashlib.sha256(peer_password.encode()).hexdigest()
    lines = [
        f"port {port}",
        "dir /data",
        "sentinel resolve-hostnames yes",
        "sentinel announce-hostnames yes",
        f"user default on {CLIENT_PERMISSIONS}",
        f"user {PEER_USER} on #{peer_hash} ~* &* +@all",
        f"sentinel sentinel-user {PEER_USER}",
        f"sentinel sentinel-pass {peer_password}",
    ]
    for instance in instances:
        m = instance.master
        lines += [
            f"sentinel monitor {m} {primary_host(instance)} {valkey_port} {QUORUM}",
            f"sentinel auth-user {m} {vc.SENTINEL_USER}",
            f"sentinel auth-pass {m} {sentinel_password}",
            f"sentinel down-after-milliseconds {m} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {m} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {m} 1",
        ]
    return "\n".join(lines) + "\n"


# Builds the Sentinel's writable config from the template: for every monitored name, the primary the other
# Sentinels know now (a restarted Sentinel must not go back to pod 0 after a failover), then this Sentinel's
# own address. stdin: none; environment: SELF, PEERS, PORT.
INIT_SCRIPT = r"""#!/bin/sh
set -eu
template=/config/sentinel.conf
conf=/data/sentinel.conf
cp "$template" "$conf.tmp"
sed -n 's/^sentinel monitor \([^ ]*\) .*/\1/p' "$template" | while read -r master; do
  for peer in $PEERS; do
    [ "$peer" = "$SELF" ] && continue
    primary=$(valkey-cli -h "$peer" -p "$PORT" --raw SENTINEL get-master-addr-by-name "$master" 2>/dev/null | sed -n 1p) || primary=""
    case "$primary" in ""|*ERR*|*NOAUTH*) continue ;; esac
    echo "sentinel-init: $peer reports $primary as the primary of $master"
    sed -i "s|^sentinel monitor $master [^ ]* |sentinel monitor $master $primary |" "$conf.tmp"
    break
  done
done
{
  echo "sentinel announce-ip $SELF"
  echo "sentinel announce-port $PORT"
} >> "$conf.tmp"
mv "$conf.tmp" "$conf"
"""


@dataclass(frozen=True)
class SentinelArgs:
    config: StackConfig
    failure_domains: int
    instances: Sequence[vc.Instance]
    namespace: pulumi.Resource


class ValkeySentinel(pulumi.ComponentResource):
    """The Sentinel StatefulSet, its Services, config Secret, init script and disruption budget."""

    def __init__(self, name: str, args: SentinelArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:ValkeySentinel", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])
        self.sentinel_password = random.RandomPassword(f"{name}-instance-user", length=32, special=False,
                                                       opts=pulumi.ResourceOptions(parent=self)).result
        peer_password = random.RandomPassword(f"{name}-peer", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)).result
        instances = list(args.instances)
        conf = pulumi.Output.all(self.sentinel_password, peer_password).apply(
            lambda pw: sentinel_config(instances, sentinel_password=pw[0], peer_password=pw[1])
        )
        labels = {**kube.labels("valkey-sentinel"), **LABELS}
        meta = k8s.meta.v1.ObjectMetaArgs
        secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=meta(name=f"{NAME}-config", namespace=vc.NAMESPACE, labels=labels),
            type="Opaque",
            string_data={"sentinel.conf": pulumi.Output.secret(conf)},
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-init",
            metadata=meta(name=f"{NAME}-init", namespace=vc.NAMESPACE, labels=labels),
            data={"init.sh": INIT_SCRIPT},
            opts=child,
        )
        ports = [k8s.core.v1.ServicePortArgs(name="sentinel", port=vc.SENTINEL_PORT, target_port="sentinel")]
        k8s.core.v1.Service(
            f"{name}-headless",
            metadata=meta(name=HEADLESS, namespace=vc.NAMESPACE, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(cluster_ip="None", publish_not_ready_addresses=True, selector=LABELS, ports=ports),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(name=NAME, namespace=vc.NAMESPACE, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(selector=LABELS, ports=ports),
            opts=child,
        )
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta(name=NAME, namespace=vc.NAMESPACE, labels=labels),
            spec=_spec(args.config, args.failure_domains, labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace, secret, script]),
        )
        kube.disruption_budget(f"{name}-pdb", NAME, vc.NAMESPACE, LABELS, component="valkey-sentinel",
                               opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace]))
        assert max_unavailable(MEMBERS) == 1
        self.register_outputs({"hosts": list(HOSTS)})


def _probe(command: list[str]) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(exec_=k8s.core.v1.ExecActionArgs(command=command), period_seconds=10, timeout_seconds=2,
                                 failure_threshold=3)


def _spec(config: StackConfig, failure_domains: int, labels: Mapping[str, str]) -> k8s.apps.v1.StatefulSetSpecArgs:
    image = versions.image("valkey").ref
    valkey = config.data.valkey
    c = k8s.core.v1
    ping = ["valkey-cli", "-p", str(vc.SENTINEL_PORT), "ping"]
    return k8s.apps.v1.StatefulSetSpecArgs(
        service_name=HEADLESS,
        replicas=MEMBERS,
        pod_management_policy="Parallel",
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
        template=c.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
            spec=c.PodSpecArgs(
                automount_service_account_token=False,
                security_context=c.PodSecurityContextArgs(run_as_non_root=True, run_as_user=1000, run_as_group=1000, fs_group=1000,
                                                          seccomp_profile=c.SeccompProfileArgs(type="RuntimeDefault")),
                topology_spread_constraints=spread_constraints(LABELS, failure_domains),
                # the third Sentinel may run on the witness, which holds no data: it carries the witness taint
                # (hosts/kubeadm.py) and keeps the control-plane one
                tolerations=[WITNESS_TOLERATION, CONTROL_PLANE_TOLERATION],
                affinity=anti_affinity(LABELS, required=True),
                init_containers=[c.ContainerArgs(
                    name="init",
                    image=image,
                    command=["/scripts/init.sh"],
                    env=[
                        c.EnvVarArgs(name="POD_NAME", value_from=c.EnvVarSourceArgs(field_ref=c.ObjectFieldSelectorArgs(field_path="metadata.name"))),
                        c.EnvVarArgs(name="SELF", value=f"$(POD_NAME).{HEADLESS}.{vc.NAMESPACE}.svc.{vc.CLUSTER_DOMAIN}"),
                        c.EnvVarArgs(name="PEERS", value=" ".join(pod_host(i) for i in range(MEMBERS))),
                        c.EnvVarArgs(name="PORT", value=str(vc.SENTINEL_PORT)),
                    ],
                    security_context=RESTRICTED_CONTAINER,
                    resources=valkey.helper.as_k8s(),
                    volume_mounts=[c.VolumeMountArgs(name="data", mount_path="/data"),
                                   c.VolumeMountArgs(name="config", mount_path="/config", read_only=True),
                                   c.VolumeMountArgs(name="scripts", mount_path="/scripts")],
                )],
                containers=[c.ContainerArgs(
                    name="sentinel",
                    image=image,
                    command=["valkey-server", "/data/sentinel.conf", "--sentinel"],
                    ports=[c.ContainerPortArgs(name="sentinel", container_port=vc.SENTINEL_PORT)],
                    security_context=RESTRICTED_CONTAINER,
                    resources=valkey.sentinel.as_k8s(),
                    readiness_probe=_probe(ping),
                    liveness_probe=_probe(ping),
                    volume_mounts=[c.VolumeMountArgs(name="data", mount_path="/data")],
                )],
                volumes=[
                    c.VolumeArgs(name="data", empty_dir=c.EmptyDirVolumeSourceArgs(size_limit="16Mi")),
                    c.VolumeArgs(name="config", secret=c.SecretVolumeSourceArgs(secret_name=f"{NAME}-config", default_mode=0o400)),
                    c.VolumeArgs(name="scripts", config_map=c.ConfigMapVolumeSourceArgs(name=f"{NAME}-init", default_mode=0o555)),
                ],
            ),
        ),
    )
