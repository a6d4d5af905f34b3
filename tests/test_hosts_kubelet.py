"""A kubelet setting changed after the nodes joined reaches them: one node at a time, inside the drain
of the upgrade window (issue 9 item 8), and a fresh node is not drained for it."""

from __future__ import annotations

import json
from pathlib import Path

from hosts import kubeadm
from tests.hosts_sandbox import Sandbox, stack_config
from tests.test_hosts_idempotency import bootstrap, prepare, stages_of

WINDOW = ("50-kubeadm-init", "70-node", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon")


def annotations(sandbox: Sandbox, node: str) -> dict[str, str]:
    return json.loads((sandbox.state / f"k8s/nodes/{node}.json").read_text())["annotations"]


def test_fresh_node_records_its_kubelet_configuration_without_a_drain(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    assert not [c for c in sandbox.changes() if c.startswith("kubectl drain")]
    digest = kubeadm.kubelet_digest(config.hosts[0], config.cluster)
    assert annotations(sandbox, "node-a")["magento.io/kubelet-config"] == digest
    assert (sandbox.root / "etc/kubernetes/magento/state/kubelet-config").read_text().strip() == digest


def test_a_kubelet_change_is_applied_inside_a_drain_once(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    kubelet = config.cluster.kubelet.model_dump(by_alias=True) | {"maxPods": 200}
    changed = stack_config("prod", kubelet=kubelet)
    stages = {s.key: s for s in stages_of(changed, "node-a")}
    digest = kubeadm.kubelet_digest(changed.hosts[0], changed.cluster)
    assert digest != kubeadm.kubelet_digest(config.hosts[0], config.cluster)
    sandbox.reset_calls()
    for key in WINDOW:
        result = sandbox.run(stages[key])
        assert result.returncode == 0, f"{key}: {result.stderr}"
    changes = sandbox.changes()
    order = [
        next(i for i, c in enumerate(changes) if c.startswith("kubectl drain node-a")),
        next(i for i, c in enumerate(changes) if c.startswith("kubeadm init phase upload-config kubelet --config")),
        changes.index("kubeadm upgrade node phase kubelet-config --patches /etc/kubernetes/magento/patches"),
        changes.index("systemctl restart kubelet"),
        changes.index("kubectl uncordon node-a"),
    ]
    assert order == sorted(order)
    assert annotations(sandbox, "node-a")["magento.io/kubelet-config"] == digest
    assert "magento.io/upgrade-drained" not in annotations(sandbox, "node-a")
    sandbox.reset_calls()
    for key in WINDOW:
        assert sandbox.run(stages[key]).returncode == 0
    assert sandbox.changes() == []


def test_a_joined_node_takes_the_cluster_configuration_without_uploading_it(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-b")
    bootstrap(sandbox, stages_of(config, "node-b"))
    arc = stack_config("prod")
    raw_host = arc.hosts[1].model_copy(update={"zfs": arc.hosts[1].zfs.model_copy(update={"arc_max_gib": 24})})
    arc = arc.model_copy(update={"hosts": [arc.hosts[0], raw_host, arc.hosts[2]]})
    stages = {s.key: s for s in stages_of(arc, "node-b")}
    sandbox.reset_calls()
    for key in ("60-kubeadm-join", "70-node", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon"):
        assert sandbox.run(stages[key]).returncode == 0, key
    changes = sandbox.changes()
    assert "kubeadm upgrade node phase kubelet-config --patches /etc/kubernetes/magento/patches" in changes
    assert not [c for c in changes if "upload-config" in c]  # only the first control plane uploads
    patch = (sandbox.root / "etc/kubernetes/magento/patches/kubeletconfiguration+strategic.yaml").read_text()
    assert f"{2048 + 24 * 1024}Mi" in patch


def test_a_witness_loses_the_control_plane_taint_an_earlier_version_gave_it(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "witness")
    stages = {s.key: s for s in stages_of(config, "witness")}
    bootstrap(sandbox, list(stages.values()))
    node_file = sandbox.state / "k8s/nodes/witness.json"
    node = json.loads(node_file.read_text())
    node["taints"] = ["node-role.kubernetes.io/control-plane:NoSchedule", "magento.io/witness:NoSchedule"]
    node_file.write_text(json.dumps(node))
    sandbox.reset_calls()
    assert sandbox.run(stages["70-node"]).returncode == 0
    assert "kubectl taint node witness node-role.kubernetes.io/control-plane:NoSchedule-" in sandbox.changes()
    assert json.loads(node_file.read_text())["taints"] == ["magento.io/witness:NoSchedule"]
    sandbox.reset_calls()
    assert sandbox.run(stages["70-node"]).returncode == 0 and sandbox.changes() == []
