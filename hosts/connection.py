"""SSH connections to the servers, built only from configuration and the secret private key."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from components.config.model import Host as HostSettings


def connection(host: HostSettings, private_key: pulumi.Input[str]) -> command.remote.ConnectionArgs:
    """The SSH connection to a host: pinned host key, optional jump host, dial retries from config.

    The private key stays a secret Output; pulumi-command also marks the whole connection secret.
    """
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
        private_key=pulumi.Output.secret(private_key),
        host_key=ssh.host_key,
        dial_error_limit=ssh.dial_error_limit,
        per_dial_timeout=ssh.per_dial_timeout,
        proxy=proxy,
    )
