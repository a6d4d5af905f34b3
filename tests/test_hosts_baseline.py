"""The OS baseline and the upgrade window as they behave on a server: the rendered nftables ruleset
through the real `nft -c`, the sshd drop-in through the real `sshd -t`, networkd and nftables.service
drop-ins, the kernel that boots, the kubelet settings and the tunables they require, the version gate
before the drain and the etcd snapshot before `kubeadm upgrade apply`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.config.loader import ConfigError, validate
from components.config.model import StackConfig
from hosts import kubeadm
from tests.hosts_sandbox import Sandbox, stack_config
from tests.test_hosts_idempotency import bootstrap, prepare, stages_of


@pytest.fixture(scope="module")
def baseline_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    raw = stack_config("prod").model_dump(by_alias=True, mode="json")
    raw["hosts"][1]["ssh"].update(port=2222, jumpHost={"host": "198.51.100.13", "hostKey": raw["hosts"][2]["ssh"]["hostKey"]})
    config = validate(raw)
    sandbox = Sandbox(tmp_path_factory.mktemp("baseline"))
    stage = next(s for s in stages_of(config, "node-b") if s.key == "10-baseline")
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    tree = sandbox.tree()
    tree["calls"] = ("\n".join(sandbox.changes()), 0)
    return tree


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    assert found, f"{name} is missing: it comes with Debian's packages in .ci/run"
    return found


def test_rendered_ruleset_passes_nft(baseline_tree, tmp_path: Path) -> None:
    rules = baseline_tree["etc/nftables.conf"][0]
    file = tmp_path / "nftables.conf"
    file.write_text(rules)
    done = subprocess.run([tool("nft"), "-c", "-f", str(file)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "ip saddr { 203.0.113.0/28 } tcp dport { 2222, 6443 } accept" in rules  # hosts[1].ssh.port
    assert "ip saddr { 198.51.100.13/32 } tcp dport 2222 accept" in rules  # its jump host
    assert "ip saddr { 10.244.0.0/16 } tcp dport { 2379, 2380 } drop" in rules
    # Pods are refused etcd before the rule that admits the pod network.
    assert rules.index("tcp dport { 2379, 2380 } drop") < rules.index("ip saddr { 10.10.0.0/24, 10.244.0.0/16 } accept")
    broken = tmp_path / "broken.conf"
    broken.write_text(rules.replace("tcp dport { 2379, 2380 } drop", "tcp dport { 2379, 2380 } dorp"))
    assert subprocess.run([tool("nft"), "-c", "-f", str(broken)], capture_output=True, timeout=30).returncode != 0


def test_sshd_accepts_the_drop_in_and_allows_several_agent_keys(baseline_tree, tmp_path: Path) -> None:
    dropin = baseline_tree["etc/ssh/sshd_config.d/01-magento-hardening.conf"][0]
    assert "MaxAuthTries 6" in dropin and "MaxAuthTries 3" not in dropin
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, capture_output=True)
    config = tmp_path / "sshd_config"
    config.write_text(dropin)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd -t insists on its privilege separation directory
    done = subprocess.run([tool("sshd"), "-t", "-f", str(config), "-h", str(key)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    config.write_text(dropin + "MaxAuthTries many\n")
    assert subprocess.run([tool("sshd"), "-t", "-f", str(config), "-h", str(key)], capture_output=True, timeout=30).returncode != 0


def test_networkd_keeps_foreign_routes_and_nftables_stop_spares_cilium(baseline_tree) -> None:
    networkd = baseline_tree["etc/systemd/networkd.conf.d/90-magento-foreign-routes.conf"][0]
    assert "[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n" in networkd
    unit = baseline_tree["etc/systemd/system/nftables.service.d/90-magento-own-table.conf"][0]
    # An empty ExecStop= clears Ubuntu's `nft flush ruleset` before ours is added.
    assert "[Service]\nExecStop=\nExecStop=-/usr/sbin/nft delete table inet magento_host\n" in unit
    assert "systemctl daemon-reload" in baseline_tree["calls"][0]


def test_kubelet_hardening_and_the_tunables_it_requires(baseline_tree) -> None:
    config = stack_config("prod")
    kubelet = kubeadm.kubelet_configuration(config.cluster)
    assert set(kubelet["evictionHard"]) == {"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree"}
    assert kubelet["seccompDefault"] is True and kubelet["protectKernelDefaults"] is True
    assert kubelet["shutdownGracePeriod"] == "120s" and kubelet["shutdownGracePeriodCriticalPods"] == "30s"
    sysctls = dict(
        re.match(r"^(\S+) = (\S+)$", line).groups()
        for line in baseline_tree["etc/sysctl.d/90-magento-k8s.conf"][0].splitlines()
        if line and not line.startswith("#")
    )
    # What kubelet's protectKernelDefaults checks (pkg/kubelet/cm/container_manager_linux.go).
    required = {"vm.overcommit_memory": "1", "vm.panic_on_oom": "0", "kernel.panic": "10", "kernel.panic_on_oops": "1",
                "kernel.keys.root_maxkeys": "1000000", "kernel.keys.root_maxbytes": "25000000"}
    assert {k: sysctls.get(k) for k in required} == required
    assert sysctls["net.ipv4.conf.all.arp_ignore"] == "1" and sysctls["net.ipv4.conf.all.arp_announce"] == "2"


def test_the_held_kernel_is_the_one_booted_and_a_reboot_is_asked(tmp_path: Path) -> None:
    config = stack_config("prod", hostOs={"kernelVersion": "6.8.0-90"})
    sandbox = Sandbox(tmp_path)
    result = sandbox.run(next(s for s in stages_of(config, "node-a") if s.key == "10-baseline"))
    assert result.returncode == 0, result.stderr
    tree = sandbox.tree()
    assert 'GRUB_DEFAULT="Advanced options for Ubuntu>Ubuntu, with Linux 6.8.0-90-generic"' in tree["etc/default/grub.d/90-magento-kernel.cfg"][0]
    assert "update-grub" in sandbox.changes()
    assert "var/run/reboot-required" in tree  # kured's sentinel: the running kernel is 6.8.0-88
    for meta in ("linux-generic-hwe-24.04", "linux-image-generic-hwe-24.04"):
        assert (sandbox.state / "hold" / meta).exists()


def test_jump_host_by_name_is_rejected_with_the_firewall() -> None:
    raw = stack_config("prod").model_dump(by_alias=True, mode="json")
    raw["hosts"][1]["ssh"]["jumpHost"] = {"host": "bastion.example.com"}
    with pytest.raises(ConfigError) as error:
        validate(raw)
    assert [str(p) for p in error.value.problems] == [
        "hosts[1].ssh.jumpHost.host: 'bastion.example.com' must be an IP address when cluster.firewall.enabled: the firewall admits SSH from it"
    ]


def test_a_skipped_minor_is_refused_before_the_drain(tmp_path: Path) -> None:
    old = stack_config("prod", kubernetesVersion="1.35.9")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, old, "node-a")
    bootstrap(sandbox, stages_of(old, "node-a"))
    skipping = {s.key: s for s in stages_of(stack_config("prod", kubernetesVersion="1.37.1"), "node-a")}
    sandbox.reset_calls()
    result = sandbox.run(skipping["80-upgrade-drain"])
    assert result.returncode != 0 and "skips a minor; go to 1.36 first (nothing was drained)" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith(("kubectl drain", "kubectl annotate"))]
    node = yaml.safe_load((sandbox.state / "k8s/nodes/node-a.json").read_text())
    assert node["unschedulable"] is False


def test_etcd_snapshot_is_taken_before_upgrade_apply(tmp_path: Path, ) -> None:
    config: StackConfig = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    upgraded = {s.key: s for s in stages_of(stack_config("prod", kubernetesVersion="1.37.1", upgradeFrom="1.36.4"), "node-a")}
    sandbox.reset_calls()
    for key in ("40-kubernetes-packages", "80-upgrade-drain", "81-kubeadm-upgrade"):
        assert sandbox.run(upgraded[key]).returncode == 0, key
    changes = sandbox.changes()
    snapshot = next(i for i, c in enumerate(changes) if "etcdctl" in c and "snapshot save" in c)
    assert snapshot < changes.index("kubeadm upgrade apply --yes --patches /etc/kubernetes/magento/patches v1.37.1")
    assert (sandbox.root / "var/lib/etcd/magento-snapshots/pre-upgrade-1.36.4-to-1.37.1.db").exists()
