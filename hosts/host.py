"""One server as a `Host` component: its SSH connection, a preflight, and one command per stage.

Every stage becomes CopyToRemote resources (the rendered script, its env file, its configuration
files) and one `remote.Command` named `<host>-<NN>-<stage>` whose `triggers` hold the hash of what
it runs, so a changed script or parameter re-runs that stage only. Stages that run on the first
control plane on this host's behalf (join token, node labels, drains) are children of this host too.

Stages that act on delete (70 node, 71 leave, 72 drain) keep fixed triggers: a trigger change
replaces a command, and replacing one of these would run its delete (drain, `kubeadm reset`) on a
server that stays. Their hash is a comment at the end of the command text instead, so a changed
script or setting updates them in place (`create` runs again) without a delete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings
from components.config.networking import VrackBlock
from hosts.connection import connection
from hosts.stages import Stage, command_line, env_text, host_stages, stage_directory

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


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class HostArgs:
    """A server and what it waits for. `index` is its position in the stack file's `hosts` (for
    messages naming its keys); `first` is the Host that ran `kubeadm init` (None: this one).
    Without `cluster` settings the host is only reached and checked (preflight), no stage runs."""

    host: HostSettings
    private_key: pulumi.Input[str]
    cluster: ClusterSettings | None = None
    index: int = 0
    first: Host | None = None
    join_after: pulumi.Resource | None = None
    upgrade_after: pulumi.Resource | None = None
    control_planes: tuple[HostSettings, ...] = ()
    vrack_block: VrackBlock | None = None
    # `name=base64` lines of the Secret encryption keys (a secret), stdin of stage 45.
    encryption_keys: pulumi.Input[str] | None = None
    # The previous control plane's last API server stage: API server restarts go one host at a time.
    apiserver_after: pulumi.Resource | None = None


class Host(pulumi.ComponentResource):
    """One server: its connection and the stages run on it."""

    commands: dict[str, command.remote.Command]

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:hosts:Host", name, None, opts)
        self.name = name
        self.settings = args.host
        self.connection = connection(args.host, args.private_key)
        self.preflight = command.remote.Command(
            f"{name}-preflight",
            connection=self.connection,
            create=PREFLIGHT,
            triggers=[_sha(PREFLIGHT)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.commands = {}
        self.digests: dict[str, str] = {}
        self.init: pulumi.Resource | None = None
        self.registered: pulumi.Resource = self.preflight
        self.apiserver_done: pulumi.Resource | None = None
        self.upgraded: pulumi.Resource = self.preflight
        if args.cluster is not None:
            self._stages(args)
        self.ready: pulumi.Resource = self.upgraded
        self.register_outputs({"name": args.host.name, "stages": list(self.commands)})

    def _stages(self, args: HostArgs) -> None:
        assert args.cluster is not None
        name = self.name
        first = args.first or self
        stages = host_stages(args.host, args.index, args.cluster, first=args.first is None, control_planes=list(args.control_planes),
                             vrack_block=args.vrack_block)
        self.digests = {stage.key: stage.digest() for stage in stages}
        by_key = {stage.number: stage for stage in stages}
        previous: pulumi.Resource = self.preflight
        for stage in stages:
            after: list[pulumi.Resource] = [previous]
            triggers = [stage.digest()]
            stdin = None
            if stage.number == "55":
                # A fresh token whenever the join is replaced; joins go one at a time after init.
                triggers.append(by_key["60"].digest())
                after += [r for r in (first.init, args.join_after) if r is not None]
            if stage.number == "60":
                stdin = pulumi.Output.secret(self.commands["55-join-token"].stdout)
            if stage.number == "45":
                assert args.encryption_keys is not None, "control planes need the encryption keys (Hosts creates them)"
                stdin = pulumi.Output.secret(args.encryption_keys)
                after += [args.apiserver_after] if args.apiserver_after is not None else []
            if stage.number == "80" and args.upgrade_after is not None:
                after.append(args.upgrade_after)
            if stage.acts_on_delete:
                triggers = [f"{name}/{stage.key}"]
            previous = self._stage(stage, first, after, triggers, stdin)
        self.init = self.commands.get("50-kubeadm-init")
        self.apiserver_done = self.commands.get("65-apiserver-cert")
        self.registered = self.commands["70-node"]
        self.upgraded = self.commands["82-upgrade-uncordon"]

    def _stage(
        self,
        stage: Stage,
        first: Host,
        after: list[pulumi.Resource],
        triggers: list[str],
        stdin: pulumi.Input[str] | None,
    ) -> command.remote.Command:
        target = first if stage.runs_on == "first-control-plane" else self
        directory = stage_directory(target.settings.ssh.user, self.name, stage)
        texts = dict(stage.scripts)
        texts["stage.env"] = env_text(stage.full_env(directory))
        texts.update({filename: content for filename, content in stage.files.values()})
        copies = [
            command.remote.CopyToRemote(
                f"{self.name}-{stage.key}-{filename}",
                connection=target.connection,
                source=pulumi.StringAsset(text),
                remote_path=f"{directory}/{filename}",
                triggers=[_sha(text)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[target.preflight]),
            )
            for filename, text in texts.items()
        ]
        secret = stage.secret_output
        quiet = secret or stage.secret_input
        create = (
            command_line(directory, stage.create)
            if stage.create is not None
            else f"echo '{self.name}: {stage.key} acts only when this host leaves the stack'"
        )
        if stage.acts_on_delete:
            # Fixed triggers: the hash rides in the command text instead, so a changed script or
            # setting updates the command (create runs again) without replacing it.
            create += f"  # stage {stage.digest()[:16]}"
        cmd = command.remote.Command(
            f"{self.name}-{stage.key}",
            connection=target.connection,
            create=create,
            delete=command_line(directory, stage.delete) if stage.delete is not None else None,
            triggers=triggers,
            stdin=stdin,
            logging=command.remote.Logging.NONE if quiet else None,
            # pulumi-command sends a command's previous stdout to its next run as PULUMI_COMMAND_STDOUT
            # (an SSH environment variable, by default). Never for a secret output such as join secrets.
            add_previous_output_in_env=False if quiet else None,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*after, *copies],
                additional_secret_outputs=["stdout", "stderr"] if secret else None,
            ),
        )
        self.commands[stage.key] = cmd
        return cmd
