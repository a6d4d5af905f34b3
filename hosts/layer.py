"""The hosts layer: every server of the stack taken to a Kubernetes node over SSH.

`Hosts` creates one `Host` (hosts/host.py) per server in bootstrap order: the first control plane
runs `kubeadm init`, every other host joins after it, one at a time, and upgrades run one node at a
time in the same order. It exposes the admin kubeconfig as a secret and the number of failure
domains later layers size replicas by. The stages are described in docs/hosts.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_random as random

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings
from components.config.networking import VrackBlock
from hosts.host import Host, HostArgs
from hosts.stages import bootstrap_order


def read_kubeconfig(server: str) -> str:
    """The admin kubeconfig with its server set to where `pulumi up` reaches the API
    (cluster.apiAccess.server, else the endpoint); admin.conf holds one cluster entry."""
    expression = shlex.quote(f"s#^( *server: ).*$#\\1https://{server}#")
    return f"sudo sed -E {expression} /etc/kubernetes/admin.conf"


def encryption_keys(cluster: ClusterSettings, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """One 32-byte random key per name of cluster.secretsEncryption.keys (pulumi-random keeps it in the
    stack state, encrypted), as the `name=base64` lines stage 45 reads on stdin: a secret Output. A key
    name is never reused: a new name is a new key."""
    lines = [
        random.RandomBytes(f"apiserver-encryption-{name}", length=32, opts=opts).base64.apply(lambda b64, n=name: f"{n}={b64}")
        for name in cluster.secrets_encryption.keys
    ]
    return pulumi.Output.secret(pulumi.Output.all(*lines).apply(lambda parts: "\n".join(parts)))


@dataclass(frozen=True)
class HostsArgs:
    hosts: list[HostSettings]
    cluster: ClusterSettings
    private_key: pulumi.Input[str]
    vrack_block: VrackBlock | None = None  # networking.vrackBlock: return routing of the LoadBalancer block


class Hosts(pulumi.ComponentResource):
    """All servers of the stack; exposes the admin kubeconfig (secret) and the number of failure domains."""

    kubeconfig: pulumi.Output[str]
    failure_domains: int

    def __init__(self, name: str, args: HostsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:hosts:Hosts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.hosts: dict[str, Host] = {}
        first: Host | None = None
        join_after: pulumi.Resource | None = None
        upgrade_after: pulumi.Resource | None = None
        ordered = bootstrap_order(args.hosts)
        control_planes = tuple(h for h in ordered if "control-plane" in h.roles)
        self.encryption_keys = encryption_keys(args.cluster, child)
        apiserver_after: pulumi.Resource | None = None
        for settings in ordered:
            host = Host(
                settings.name,
                HostArgs(settings, args.private_key, args.cluster, args.hosts.index(settings), first, join_after, upgrade_after,
                         control_planes, vrack_block=args.vrack_block, encryption_keys=self.encryption_keys,
                         apiserver_after=apiserver_after),
                child,
            )
            first = first or host
            join_after, upgrade_after = host.registered, host.upgraded
            apiserver_after = host.apiserver_done or apiserver_after
            self.hosts[settings.name] = host
        assert first is not None and first.init is not None  # checks.cluster_mode requires a control plane
        self.first_control_plane = first
        self.failure_domains = len({h.domain for h in args.hosts})
        server = args.cluster.api_server
        assert server is not None  # checks.cluster_mode requires the endpoint in kubeadm mode
        # Read again (replaced) when the server changes, on cluster.apiAccess.rotation, and whenever the
        # first control plane's upgrade stage changes: `kubeadm upgrade apply` renews admin.conf's
        # client certificate, which otherwise expires a year after init.
        read = command.remote.Command(
            "read-admin-kubeconfig",
            connection=first.connection,
            create=read_kubeconfig(server),
            triggers=[server, args.cluster.api_access.rotation, first.digests["81-kubeadm-upgrade"]],
            logging=command.remote.Logging.NONE,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[first.init, first.upgraded],
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(read.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig, "failureDomains": self.failure_domains})
