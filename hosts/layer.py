"""The hosts layer: every server of the stack taken to a Kubernetes node over SSH.

`Hosts` creates one `Host` (hosts/host.py) per server in bootstrap order: the first control plane
runs `kubeadm init`, every other host joins after it, one at a time, and upgrades run one node at a
time in the same order. It exposes the admin kubeconfig as a secret and the number of failure
domains later layers size replicas by. The stages are described in docs/hosts.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings
from hosts.host import Host, HostArgs
from hosts.stages import bootstrap_order

READ_KUBECONFIG = "sudo cat /etc/kubernetes/admin.conf"


@dataclass(frozen=True)
class HostsArgs:
    hosts: list[HostSettings]
    cluster: ClusterSettings
    private_key: pulumi.Input[str]


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
        for settings in bootstrap_order(args.hosts):
            host = Host(
                settings.name,
                HostArgs(settings, args.private_key, args.cluster, args.hosts.index(settings), first, join_after, upgrade_after),
                child,
            )
            first = first or host
            join_after, upgrade_after = host.registered, host.upgraded
            self.hosts[settings.name] = host
        assert first is not None and first.init is not None  # checks.cluster_mode requires a control plane
        self.first_control_plane = first
        self.failure_domains = len({h.domain for h in args.hosts})
        read = command.remote.Command(
            "read-admin-kubeconfig",
            connection=first.connection,
            create=READ_KUBECONFIG,
            logging=command.remote.Logging.NONE,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[first.init],
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(read.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig, "failureDomains": self.failure_domains})
