"""A sandbox that runs the rendered host scripts against stand-ins of the system commands.

`Sandbox.run(stage)` writes the stage's rendered script(s), env file and configuration files to a
work directory exactly as the CopyToRemote resources would, and runs it with bash, with HOSTS_ROOT
pointing at a fake root file system and PATH starting with the stand-ins of fake_system.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.config.loader import validate
from components.config.model import StackConfig
from hosts.stages import Invocation, Stage, env_text
from offline.stackfile import ROOT as REPO
from tests.hosts_sandbox.fake_system import COMMANDS

FAKE = Path(__file__).parent / "fake_system.py"


def provider_stdout(text: str) -> str:
    """A command's stdout as pulumi-command returns it, hence as the next command's stdin receives it:
    provider/pkg/provider/remote/commandOutputs.go ends `run` with
    `strings.TrimSuffix(stdoutbuf.String(), "\n")`, one final newline removed."""
    return text.removesuffix("\n")


def stack_config(stack: str, **cluster_overrides: object) -> StackConfig:
    """A stack file's configuration, validated, with optional `cluster` keys replaced."""
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw = {key.split(":", 1)[1]: value for key, value in document.items() if key.startswith("magento:")}
    raw["cluster"] = {**raw["cluster"], **cluster_overrides}
    return validate(raw)


def encryption_stdin(config: StackConfig) -> str:
    """Stage 45's stdin as the hosts layer builds it (one `name=base64` line per key of
    cluster.secretsEncryption.keys, 32 bytes each) and pulumi-command delivers it (no final newline)."""
    lines = [f"{name}={base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()}" for name in config.cluster.secrets_encryption.keys]
    return provider_stdout("\n".join(lines) + "\n")


def stored_cluster_configuration(config: StackConfig) -> str:
    """The ClusterConfiguration `kubeadm init` on the first control plane stored in kubeadm-config."""
    from hosts import kubeadm
    from hosts.stages import bootstrap_order

    first = bootstrap_order(config.hosts)[0]
    docs = yaml.safe_load_all(kubeadm.init_configuration(first, config.cluster))
    return yaml.safe_dump(next(d for d in docs if d["kind"] == "ClusterConfiguration"))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Sandbox:
    def __init__(self, base: Path):
        self.root = base / "root"
        self.state = base / "state"
        self.bin = base / "bin"
        self.work = base / "work"
        for directory in (self.root, self.state, self.bin, self.work):
            directory.mkdir(parents=True, exist_ok=True)
        for name in COMMANDS:
            wrapper = self.bin / name
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" {name} "$@"\n')
            wrapper.chmod(0o755)
        # A freshly installed OVH server: swap in fstab and active, a stock resolv.conf.
        (self.root / "etc").mkdir()
        (self.root / "etc" / "fstab").write_text("UUID=abcd / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n")
        (self.root / "etc" / "resolv.conf").write_text("nameserver 127.0.0.53\n")
        (self.state / "swap").write_text("/swap.img\n")

    def add_disk(self, path: str, partitions: int = 0, signature: str = "", holders: str = "", mount: str = "") -> None:
        """A device under /dev/disk/by-id; `holders` are lsblk lines (`md127 raid1 /`) of what sits on it."""
        device = self.root / path.lstrip("/")
        device.parent.mkdir(parents=True, exist_ok=True)
        device.write_text("")
        (self.state / "disks").mkdir(exist_ok=True)
        if partitions:
            (self.state / "disks" / f"{Path(path).name}.parts").write_text(str(partitions))
        if signature:
            (self.state / "disks" / f"{Path(path).name}.signature").write_text(signature)
        if holders:
            (self.state / "disks" / f"{Path(path).name}.holders").write_text(holders)
        if mount:
            (self.state / "disks" / f"{Path(path).name}.mount").write_text(mount)

    def seed_first_control_plane(self, cluster_configuration: str = "") -> None:
        """The first control plane's credentials, for stages that run there on a joining host's behalf,
        and the ClusterConfiguration its `kubeadm init` stored (control-plane joins read its certSANs)."""
        kube = self.root / "etc" / "kubernetes"
        (kube / "pki").mkdir(parents=True, exist_ok=True)
        (kube / "admin.conf").write_text("admin kubeconfig\n")
        (kube / "pki" / "ca.crt").write_text("ca\n")
        # Its etcd member and the ConfigMaps kubeadm init uploaded.
        self.state_file("etcd/members", "8e9e05c52164694d, started, node-a, https://10.10.0.11:2380, https://10.10.0.11:2379, false\n")
        self.state_file("k8s/cm/kube-system/kubeadm-config", cluster_configuration)
        self.state_file("k8s/cm/kube-public/cluster-info", "")

    def state_file(self, path: str, text: str) -> None:
        """Set a piece of the stand-ins' state (fake_system.py), e.g. `fail-join` to make kubeadm fail."""
        file = self.state / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def members(self) -> list[str]:
        file = self.state / "etcd" / "members"
        return [line for line in file.read_text().splitlines() if line] if file.exists() else []

    def run(self, stage: Stage, *, action: str = "create", stdin: str = "") -> Result:
        invocation: Invocation | None = stage.create if action == "create" else stage.delete
        assert invocation is not None, f"{stage.key} has no {action} script"
        directory = self.work / stage.key
        directory.mkdir(exist_ok=True)
        for name, text in stage.scripts.items():
            (directory / name).write_text(text)
        for filename, content in stage.files.values():
            (directory / filename).write_text(content)
        (directory / "stage.env").write_text(env_text(stage.full_env(str(directory))))
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOSTS_ROOT": str(self.root),
            "SANDBOX_STATE": str(self.state),
            "HOME": str(self.work),
            "LANG": "C.UTF-8",
        }
        done = subprocess.run(
            ["bash", str(directory / invocation.script), str(directory / "stage.env"), *invocation.args],
            env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def calls(self) -> list[dict]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def changes(self) -> list[str]:
        return [" ".join([c["cmd"], *c["args"]]) for c in self.calls() if c["change"]]

    def reset_calls(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def tree(self) -> dict[str, tuple[str, int]]:
        """Every file under the fake root with its content and mode (symlinks as their target)."""
        out: dict[str, tuple[str, int]] = {}
        for path in sorted(self.root.rglob("*")):
            rel = str(path.relative_to(self.root))
            if path.is_symlink():
                out[rel] = (f"-> {os.readlink(path)}", 0)
            elif path.is_file():
                out[rel] = (path.read_text(errors="replace"), path.stat().st_mode & 0o7777)
        return out
