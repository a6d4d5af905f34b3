"""The Galera arbitrator (garbd) of Percona XtraDB Cluster on the witness: the third vote of a cluster whose
data lives on two servers (two failure domains with a ZFS pool and a third one that only has a witness).

* **Why**: Galera stays writable only in a component holding more than half of the last primary component's
  weight. Two data members alone lose that on any server failure (1 of 2 is not a majority); a full third
  member needs a volume and 8Gi the witness does not have. garbd takes part in the group's membership and
  replication traffic but keeps no data, so it fits the witness (requests 50m / 64Mi).
* **Weights**: the operator gives every member `pc.weight=10` (its pxc-configure-pxc.sh adds
  `wsrep_provider_options="pc.weight=10"` when the configuration sets none, and ours sets none); garbd keeps
  Galera's default weight 1. Losing a server leaves 10 + 1 = 11 of 21 (Primary); losing the witness leaves 20
  of 21; after a server and then the witness are lost one by one, the survivor keeps 10 of 11. A split between
  the servers goes to the side garbd is on; the other side (10 of 21) stops writing.
* **Joining the operator's cluster**: the group is the `wsrep_cluster_name` the operator sets, the second label
  of the member's FQDN, i.e. the StatefulSet's headless Service `<cluster>-pxc` (percona-xtradb-cluster-operator
  v1.20.0 build/pxc-configure-pxc.sh: `CLUSTER_NAME="$(hostname -f | cut -d'.' -f2)"`; pkg/pxc/app/statefulset/node.go:
  `Service() = cr.Name + "-pxc"`); the members are `<cluster>-pxc-<i>.<cluster>-pxc` on 4567, the names the
  operator's own members use for each other (pkg/pxc/service.go: `publishNotReadyAddresses: true`, so they
  resolve before a member is ready). Replication is TLS (`pxc-encrypt-cluster-traffic=ON` with the
  `<cluster>-ssl-internal` certificate: pxc-configure-pxc.sh); garbd mounts the same Secret and passes it as
  `socket.ssl_*`, the options the operator's own backup garbd uses (build/backup/backup.sh `check_ssl`).
* **Not the operator's**: the operator does not know this Deployment (its backups start their own garbd with
  `pc.weight=0`, unaffected); it is our typed object, scheduled only on the witness.
* **Image**: `percona/percona-xtrabackup`, the backup image already pinned for the cluster; its Dockerfile
  installs `percona-xtradb-cluster-garbd` (components/versions.py names the evidence). `command` replaces the
  image's entrypoint (a telemetry call before `exec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import versions
from components.placement import WITNESS_LABEL, WITNESS_TOLERATION

GALERA_PORT = 4567  # group communication (gmcast); garbd neither donates nor receives IST (4568) or SST (4444)
SSL_DIR = "/etc/mysql/ssl-internal"  # where the operator mounts the same Secret in the members (statefulset/node.go)
WORKDIR = "/var/lib/garbd"  # garbd's base_dir (its gvwstate.dat), an emptyDir: the root file system is read-only
WEIGHT = 1
MEMBER_WEIGHT = 10  # what the operator gives each member (build/pxc-configure-pxc.sh)
UID = 1001  # the image's USER (percona-docker percona-xtrabackup-8.x/Dockerfile: `useradd -u 1001 ... mysql`)
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def name(cluster: str) -> str:
    return f"{cluster}-garbd"


def group(cluster: str) -> str:
    """The operator's wsrep_cluster_name: its members' headless Service."""
    return f"{cluster}-pxc"


def ssl_secret(cluster: str) -> str:
    """The operator's replication certificate (pkg/apis/pxc/v1/pxc_types.go: `cr.Name + "-ssl-internal"`)."""
    return f"{cluster}-ssl-internal"


def member_hosts(cluster: str, members: int) -> list[str]:
    return [f"{group(cluster)}-{i}.{group(cluster)}" for i in range(members)]


APP = {"app.kubernetes.io/name": "garbd"}  # what the namespace's baseline isolation leaves out


def pod_labels(cluster: str) -> dict[str, str]:
    """Not the operator's labels (its selectors, HAProxy's backends and the PodMonitor never match garbd)."""
    return {**APP, "app.kubernetes.io/instance": name(cluster)}


def options(ssl_dir: str = SSL_DIR) -> str:
    """The GCS/gcomm options: the members' TLS (the internal certificate) and garbd's weight."""
    return (f"socket.ssl_ca={ssl_dir}/ca.crt;socket.ssl_cert={ssl_dir}/tls.crt;socket.ssl_key={ssl_dir}/tls.key;"
            f"socket.ssl_cipher=;pc.weight={WEIGHT}")


def command(cluster: str, members: int) -> list[str]:
    """garbd's argv in the container (garbd 26.4: --group, --address, --options, --name, --workdir)."""
    peers = ",".join(f"{host}:{GALERA_PORT}" for host in member_hosts(cluster, members))
    return [
        "garbd",
        f"--group={group(cluster)}",
        f"--address=gcomm://{peers}?gmcast.listen_addr=tcp://0.0.0.0:{GALERA_PORT}",
        f"--options={options()}",
        f"--name={name(cluster)}",
        f"--workdir={WORKDIR}",
    ]


@dataclass(frozen=True)
class ArbitratorArgs:
    cluster: str  # the PerconaXtraDBCluster's name
    namespace: str
    members: int  # the cluster's data members (garbd lists each)
    member_labels: dict[str, str]  # the labels the operator gives the members' pods


class GaleraArbitrator(pulumi.ComponentResource):
    """garbd on the witness, joined to the operator's cluster, and the network policy around it."""

    def __init__(self, resource_name: str, args: ArbitratorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:data:GaleraArbitrator", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = pod_labels(args.cluster)
        meta = {"namespace": args.namespace, "labels": {**kube.labels("mysql-arbitrator"), **labels}}
        self.policy = kube.custom_object(
            f"{resource_name}-policy", "cilium.io/v2", "CiliumNetworkPolicy",
            metadata={"name": name(args.cluster), **meta},
            fields={"spec": policy_spec(labels, args.member_labels)},
            opts=child,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{resource_name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name(args.cluster), **meta),
            spec=deployment_spec(args, labels),
            opts=child,
        )
        self.register_outputs({"group": group(args.cluster), "members": member_hosts(args.cluster, args.members)})


def policy_spec(labels: dict[str, str], member_labels: dict[str, str]) -> dict[str, object]:
    """garbd talks to the members on 4567 and nothing else; the kubelet's probe reaches it from the node. The
    namespace's baseline isolation leaves garbd out (components/data/pxc.py), so these are its only rules."""
    galera = [{"ports": [{"port": str(GALERA_PORT), "protocol": "TCP"}]}]
    members = [{"matchLabels": dict(member_labels)}]
    return {
        "description": "Galera arbitrator: group communication with the PXC members on 4567 only",
        "endpointSelector": {"matchLabels": dict(labels)},
        "ingress": [{"fromEndpoints": members, "toPorts": galera}, {"fromEntities": ["host"], "toPorts": galera}],
        # DNS to kube-dns comes from the cluster-wide baseline (components/network_policy.py)
        "egress": [{"toEndpoints": members, "toPorts": galera}],
    }


def deployment_spec(args: ArbitratorArgs, labels: dict[str, str]) -> k8s.apps.v1.DeploymentSpecArgs:
    c = k8s.core.v1
    probe = dict(tcp_socket=c.TCPSocketActionArgs(port=GALERA_PORT), period_seconds=10, timeout_seconds=3, failure_threshold=3)
    return k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,
        # the new pod joins before the old one leaves: no moment without the third vote during a rollout
        strategy=k8s.apps.v1.DeploymentStrategyArgs(
            type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)),
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
        template=c.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=c.PodSpecArgs(
                automount_service_account_token=False,
                node_selector={WITNESS_LABEL: "true"},
                tolerations=[c.TolerationArgs(**WITNESS_TOLERATION)],
                security_context=c.PodSecurityContextArgs(
                    run_as_non_root=True, run_as_user=UID, run_as_group=UID, fs_group=UID,
                    seccomp_profile=c.SeccompProfileArgs(type="RuntimeDefault")),
                termination_grace_period_seconds=30,
                containers=[c.ContainerArgs(
                    name="garbd",
                    image=versions.image("xtrabackup").ref,
                    command=command(args.cluster, args.members),
                    ports=[c.ContainerPortArgs(name="galera", container_port=GALERA_PORT, protocol="TCP")],
                    resources=RESOURCES,
                    readiness_probe=c.ProbeArgs(**probe),
                    liveness_probe=c.ProbeArgs(initial_delay_seconds=30, **probe),
                    security_context=c.SecurityContextArgs(
                        run_as_non_root=True, read_only_root_filesystem=True, allow_privilege_escalation=False,
                        capabilities=c.CapabilitiesArgs(drop=["ALL"]), seccomp_profile=c.SeccompProfileArgs(type="RuntimeDefault")),
                    volume_mounts=[c.VolumeMountArgs(name="ssl-internal", mount_path=SSL_DIR, read_only=True),
                                   c.VolumeMountArgs(name="workdir", mount_path=WORKDIR)],
                )],
                volumes=[
                    # made by the operator (cert-manager or its own CA); the pod waits for it
                    c.VolumeArgs(name="ssl-internal", secret=c.SecretVolumeSourceArgs(secret_name=ssl_secret(args.cluster), default_mode=0o440)),
                    c.VolumeArgs(name="workdir", empty_dir=c.EmptyDirVolumeSourceArgs(size_limit="16Mi")),
                ],
            ),
        ),
    )
