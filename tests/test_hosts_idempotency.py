"""Every host script, run twice in a sandbox: the second run makes no changing call.

The sandbox (tests/hosts_sandbox) runs the rendered stage scripts of the prod stack file with
HOSTS_ROOT pointing at a fake root and stand-ins for apt-get, systemctl, zpool, kubeadm, kubectl and
the rest, which record their calls and keep state in files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config.model import StackConfig
from hosts.stages import Stage, stages_by_host
from tests.hosts_sandbox import Sandbox, encryption_stdin, provider_stdout, stack_config, stored_cluster_configuration

JOIN_SECRETS_SENTINEL = "abcdef.0123456789abcdef"


@pytest.fixture(scope="module")
def prod_config() -> StackConfig:
    return stack_config("prod")


def stages_of(config: StackConfig, name: str) -> list[Stage]:
    return stages_by_host(config.hosts, config.cluster, config.networking.vrack_block)[name]


def bootstrap(sandbox: Sandbox, stages: list[Stage], config: StackConfig | None = None) -> None:
    """Run every create script of a host in order, as `pulumi up` would: 55's stdout reaches 60 on
    stdin exactly as pulumi-command delivers it (final newline trimmed), and so do the encryption keys
    on 45's."""
    token = ""
    keys = encryption_stdin(config or stack_config("prod"))
    for stage in stages:
        if stage.create is None:
            continue
        result = sandbox.run(stage, stdin=token if stage.number == "60" else keys if stage.number == "45" else "")
        assert result.returncode == 0, f"{stage.key} failed:\n{result.stderr}"
        if stage.number == "55":
            token = provider_stdout(result.stdout)


def prepare(sandbox: Sandbox, config: StackConfig, name: str) -> None:
    host = next(h for h in config.hosts if h.name == name)
    if host.zfs is not None:
        for disk in host.zfs.disks:
            sandbox.add_disk(disk.id)
    if host.name != config.hosts[0].name:
        sandbox.seed_first_control_plane(stored_cluster_configuration(config))


@pytest.mark.parametrize("name", ["node-a", "node-b", "witness"])
def test_second_run_changes_nothing(tmp_path: Path, prod_config: StackConfig, name: str) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, name)
    stages = stages_of(prod_config, name)
    bootstrap(sandbox, stages)
    first_changes = sandbox.changes()
    assert any(c.startswith("kubeadm init") or c.startswith("kubeadm join") for c in first_changes)
    tree = sandbox.tree()

    sandbox.reset_calls()
    bootstrap(sandbox, stages)
    assert sandbox.changes() == []
    assert sandbox.tree() == tree


def test_first_run_hardens_the_host(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-a")
    bootstrap(sandbox, stages_of(prod_config, "node-a"))
    tree = sandbox.tree()
    changes = sandbox.changes()

    sshd = tree["etc/ssh/sshd_config.d/01-magento-hardening.conf"][0]
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd and "AllowUsers ubuntu" in sshd
    nft = tree["etc/nftables.conf"][0]
    assert "policy drop" in nft
    assert "ip saddr { 203.0.113.0/28 } tcp dport { 22, 6443 } accept" in nft
    assert "ip saddr { 10.10.0.0/24, 10.244.0.0/16 } accept" in nft
    assert "tcp dport { 80, 443 } accept" in nft
    assert "# disabled for the kubelet: /swap.img none swap sw 0 0" in tree["etc/fstab"][0]
    assert "swapoff -a" in changes
    assert tree["etc/resolv.conf"] == ("-> /run/systemd/resolve/resolv.conf", 0)
    assert "DNSStubListener=no" in tree["etc/systemd/resolved.conf.d/10-magento-no-stub.conf"][0]
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in tree["etc/apt/apt.conf.d/52magento-unattended-upgrades"][0]
    assert "vm.max_map_count = 262144" in tree["etc/sysctl.d/90-magento-k8s.conf"][0]
    assert "apt-mark hold linux-image-6.8.0-88-generic" in changes
    netplan = tree["etc/netplan/60-magento-private.yaml"]
    assert netplan[1] == 0o600 and "enp3s0f1:" in netplan[0] and "10.10.0.11/24" in netplan[0]
    assert "options zfs zfs_arc_max=17179869184" in tree["etc/modprobe.d/zfs-arc.conf"][0]
    containerd = tree["etc/containerd/config.toml"][0]
    assert "version = 3" in containerd and "SystemdCgroup = true" in containerd
    assert "sandbox = 'registry.k8s.io/pause:3.10.1'" in containerd
    assert any(c.startswith("zpool create -o ashift=12") and "-O compression=lz4" in c and " mirror " in c for c in changes)
    assert any(c.startswith("kubeadm init --config") for c in changes)
    assert "kubectl certificate approve csr-node-a" in changes


def test_registry_mirrors_are_written_and_removed(tmp_path: Path) -> None:
    mirror = {"registry": "docker.io", "endpoint": "https://harbor.example.com/v2/dockerhub", "overridePath": True}
    with_mirror = stack_config("prod", registryMirrors=[mirror])
    without = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    containerd = next(s for s in stages_of(with_mirror, "node-a") if s.name == "containerd")
    assert sandbox.run(containerd).returncode == 0
    hosts_toml = sandbox.tree()["etc/containerd/certs.d/docker.io/hosts.toml"][0]
    assert 'server = "https://registry-1.docker.io"' in hosts_toml
    assert '[host."https://harbor.example.com/v2/dockerhub"]' in hosts_toml and "override_path = true" in hosts_toml
    assert sandbox.run(next(s for s in stages_of(without, "node-a") if s.name == "containerd")).returncode == 0
    assert "etc/containerd/certs.d/docker.io/hosts.toml" not in sandbox.tree()


def zfs_stage(config: StackConfig) -> Stage:
    return next(s for s in stages_of(config, "node-a") if s.name == "zfs")


def test_zfs_refuses_a_disk_that_holds_data(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    first, second = (d.id for d in prod_config.hosts[0].zfs.disks)
    sandbox.add_disk(first, partitions=2, signature="ext4")
    sandbox.add_disk(second)
    result = sandbox.run(zfs_stage(prod_config))
    assert result.returncode != 0
    assert f"refusing to touch {first}: it holds 2 partition(s) and a ext4 signature" in result.stderr
    assert "hosts[0].zfs.disks[0].allowWipe: true" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("zpool", "wipefs", "zfs"))]


def test_zfs_refuses_a_disk_of_another_pool(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    first, second = (d.id for d in prod_config.hosts[0].zfs.disks)
    sandbox.add_disk(first)
    sandbox.add_disk(second, signature="zfs_member")
    result = sandbox.run(zfs_stage(prod_config))
    assert result.returncode != 0 and "zfs_member" in result.stderr and "hosts[0].zfs.disks[1].allowWipe" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("zpool create", "wipefs"))]


def test_zfs_wipes_only_when_allowed(tmp_path: Path) -> None:
    raw_hosts = stack_config("prod").model_dump(by_alias=True)["hosts"]
    raw_hosts[0]["zfs"]["disks"][0]["allowWipe"] = True
    config = stack_config("prod")
    config = config.model_copy(update={"hosts": [type(config.hosts[0]).model_validate(raw_hosts[0]), *config.hosts[1:]]})
    sandbox = Sandbox(tmp_path)
    first, second = (d.id for d in config.hosts[0].zfs.disks)
    sandbox.add_disk(first, partitions=1)
    sandbox.add_disk(second)
    assert sandbox.run(zfs_stage(config)).returncode == 0
    changes = sandbox.changes()
    assert f"wipefs --all {first}" in changes and not any(c == f"wipefs --all {second}" for c in changes)
    sandbox.reset_calls()
    assert sandbox.run(zfs_stage(config)).returncode == 0
    assert sandbox.changes() == []


def test_join_secrets_stay_off_command_lines_and_disk(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    bootstrap(sandbox, stages_of(prod_config, "node-b"))
    for call in sandbox.calls():
        assert JOIN_SECRETS_SENTINEL not in " ".join(call["args"]) or (call["cmd"] == "kubeadm" and call["args"][0] == "token")
    assert not any(JOIN_SECRETS_SENTINEL in text for text, _ in sandbox.tree().values())
    join = yaml.safe_load((sandbox.state / "join-config-seen").read_text())  # what kubeadm read
    assert join["discovery"]["bootstrapToken"]["token"] == JOIN_SECRETS_SENTINEL
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == ["sha256:1234abcd"]
    assert join["controlPlane"]["certificateKey"].startswith("0123")
    assert not (sandbox.root / "etc/kubernetes/magento/kubeadm-join.yaml").exists()


def test_removing_a_host_drains_resets_and_deletes_once(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    stages = {s.key: s for s in stages_of(prod_config, "node-b")}
    bootstrap(sandbox, list(stages.values()))
    removal = ["72-drain", "71-leave", "70-node"]  # the order Pulumi deletes them (dependents first)
    sandbox.reset_calls()
    for key in removal:
        assert sandbox.run(stages[key], action="delete").returncode == 0
    changes = sandbox.changes()
    drain = next(i for i, c in enumerate(changes) if c.startswith("kubectl drain node-b"))
    reset = changes.index("kubeadm reset --force")
    delete = next(i for i, c in enumerate(changes) if c.startswith("kubectl delete node node-b"))
    assert drain < reset < delete
    sandbox.reset_calls()
    for key in removal:
        assert sandbox.run(stages[key], action="delete").returncode == 0
    assert sandbox.changes() == []


def test_minor_upgrade_drains_upgrades_and_uncordons_once(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-a")
    bootstrap(sandbox, stages_of(prod_config, "node-a"))
    upgraded = stack_config("prod", kubernetesVersion="1.37.1", upgradeFrom="1.36.4")
    stages = {s.key: s for s in stages_of(upgraded, "node-a")}
    window = ["40-kubernetes-packages", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon"]
    sandbox.reset_calls()
    for key in window:
        assert sandbox.run(stages[key]).returncode == 0, sandbox.run(stages[key]).stderr
    changes = sandbox.changes()
    order = [
        next(i for i, c in enumerate(changes) if c.startswith("kubectl drain node-a")),
        changes.index("apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --allow-change-held-packages kubeadm=1.37.1-1.1"),
        changes.index("kubeadm upgrade apply --yes --patches /etc/kubernetes/magento/patches v1.37.1"),
        next(i for i, c in enumerate(changes) if "kubelet=1.37.1-1.1" in c),
        changes.index("systemctl restart kubelet"),
        changes.index("kubectl uncordon node-a"),
    ]
    assert order == sorted(order)
    assert "deb [signed-by=/etc/apt/keyrings/kubernetes-v1.37.gpg] https://pkgs.k8s.io/core:/stable:/v1.37/deb/ /" in (
        sandbox.tree()["etc/apt/sources.list.d/kubernetes.list"][0]
    )
    sandbox.reset_calls()
    for key in window:
        assert sandbox.run(stages[key]).returncode == 0
    assert sandbox.changes() == []


def test_the_host_refuses_to_skip_a_minor(tmp_path: Path, prod_config: StackConfig) -> None:
    """Without cluster.upgradeFrom config validation cannot see a skip; the node itself refuses it."""
    sandbox = Sandbox(tmp_path)
    old = stack_config("prod", kubernetesVersion="1.35.9")
    prepare(sandbox, old, "node-a")
    bootstrap(sandbox, stages_of(old, "node-a"))
    skipping = {s.key: s for s in stages_of(stack_config("prod", kubernetesVersion="1.37.1"), "node-a")}
    sandbox.reset_calls()
    result = sandbox.run(skipping["81-kubeadm-upgrade"])
    assert result.returncode != 0
    assert "skips a minor; go to 1.36 first" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("kubeadm", "apt-get"))]
