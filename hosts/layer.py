"""The hosts layer: one `Host` component per server, over SSH with pulumi-command.

This is the seam the host bootstrap fills (baseline, ZFS, containerd, kubeadm; see docs/architecture.md).
What it does now is real and read-only: it builds each server's SSH connection from the configuration
(key from secret config, pinned host key, jump host, dial retries), runs a preflight that refuses
anything but Ubuntu 24.04 with cgroup v2, and reads the admin kubeconfig from the first control plane
as a secret output.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings

PREFLIGHT = r"""set -euo pipefail
. /etc/os-release
if [ "${ID}" != "ubuntu" ] || [ "${VERSION_ID}" != "24.04" ]; then
  echo "preflight: this host runs ${PRETTY_NAME}; only Ubuntu 24.04 is supported" >&2
  exit 1
fi
if [ "$(stat -fc %T /sys/fs/cgroup/)" != "cgroup2fs" ]; then
  echo "preflight: cgroup v2 is required (Kubernetes 1.35+ refuses cgroup v1)" >&2
  exit 1
fi
sudo -n true || { echo "preflight: the SSH user needs passwordless sudo" >&2; exit 1; }
echo "preflight ok: $(hostname) $(uname -r)"
"""

READ_KUBECONFIG = "sudo cat /etc/kubernetes/admin.conf"


def connection(host: HostSettings, private_key: pulumi.Input[str]) -> command.remote.ConnectionArgs:
    """The SSH connection to a host, built only from configuration and the secret key."""
    ssh = host.ssh
    proxy = None
    if ssh.jump_host is not None:
        proxy = command.remote.ProxyConnectionArgs(
            host=ssh.jump_host.host,
            port=ssh.jump_host.port,
            user=ssh.jump_host.user,
            private_key=private_key,
            host_key=ssh.jump_host.host_key,
            dial_error_limit=ssh.dial_error_limit,
            per_dial_timeout=ssh.per_dial_timeout,
        )
    return command.remote.ConnectionArgs(
        host=host.public_address,
        port=ssh.port,
        user=ssh.user,
        private_key=private_key,
        host_key=ssh.host_key,
        dial_error_limit=ssh.dial_error_limit,
        per_dial_timeout=ssh.per_dial_timeout,
        proxy=proxy,
    )


@dataclass(frozen=True)
class HostArgs:
    host: HostSettings
    private_key: pulumi.Input[str]


class Host(pulumi.ComponentResource):
    """One server: its connection and the stages run on it."""

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:hosts:Host", name, None, opts)
        self.settings = args.host
        self.connection = connection(args.host, args.private_key)
        self.preflight = command.remote.Command(
            f"{name}-preflight",
            connection=self.connection,
            create=PREFLIGHT,
            triggers=[PREFLIGHT],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready: pulumi.Resource = self.preflight
        self.register_outputs({"name": args.host.name})


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
        self.hosts = {h.name: Host(h.name, HostArgs(h, args.private_key), child) for h in args.hosts}
        self.failure_domains = len({h.domain for h in args.hosts})
        first = next(h for h in args.hosts if "control-plane" in h.roles)
        read = command.remote.Command(
            "read-admin-kubeconfig",
            connection=self.hosts[first.name].connection,
            create=READ_KUBECONFIG,
            logging=command.remote.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.hosts[first.name].ready],
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        self.kubeconfig = pulumi.Output.secret(read.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig, "failureDomains": self.failure_domains})
