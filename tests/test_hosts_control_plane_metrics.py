"""etcd, kube-controller-manager and kube-scheduler serve metrics on each control plane's private address: the
rendered ClusterConfiguration, the per-host probe patches, the firewall that admits those ports only from the
cluster network (the real `nft -c`), and how a running control plane gets the change (stage 81 in the sandbox)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.config.loader import ConfigError, validate
from hosts import kubeadm
from tests.hosts_sandbox import Sandbox, stack_config
from tests.test_hosts_idempotency import bootstrap, prepare, stages_of


def cluster_configuration(config) -> dict:
    first = config.hosts[0]
    docs = list(yaml.safe_load_all(kubeadm.init_configuration(first, config.cluster)))
    return next(d for d in docs if d["kind"] == "ClusterConfiguration")


def args(component: dict) -> dict[str, str]:
    return {a["name"]: a["value"] for a in component["extraArgs"]}


def test_the_cluster_configuration_binds_metrics_to_the_node_address():
    config = stack_config("prod")
    cc = cluster_configuration(config)
    etcd = cc["etcd"]["local"]
    urls = args(etcd)["listen-metrics-urls"].split(",")
    # kubeadm probes the first URL and the stage scripts read /health there: loopback stays first
    assert urls == ["http://127.0.0.1:2381", "http://$(MAGENTO_NODE_IP):2381"]
    for component in (cc["controllerManager"], cc["scheduler"]):
        assert args(component) == {"bind-address": "$(MAGENTO_NODE_IP)", "profiling": "false"}
    for component in (etcd, cc["controllerManager"], cc["scheduler"]):
        assert component["extraEnvs"] == [{"name": "MAGENTO_NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]
    # The ClusterConfiguration is every control plane's: no host's own address in these sections
    text = yaml.safe_dump([etcd, cc["controllerManager"], cc["scheduler"]])
    assert not [h.name for h in config.hosts if h.private_address in text or h.public_address in text]


def test_each_control_plane_probes_its_own_private_address():
    config = stack_config("prod")
    for host in config.hosts:
        patches = kubeadm.control_plane_patches(host)
        if "control-plane" not in host.roles:
            assert patches == {}
            continue
        assert set(patches) == {"kube-controller-manager+strategic.yaml", "kube-scheduler+strategic.yaml"}
        for name, text in patches.items():
            component = name.split("+")[0]
            (container,) = yaml.safe_load(text)["spec"]["containers"]
            assert container["name"] == component  # strategic merge matches the container by name
            assert container["livenessProbe"] == container["startupProbe"] == {"httpGet": {"host": host.private_address}}


def test_join_and_upgrade_stages_of_a_control_plane_copy_the_patches():
    config = stack_config("prod")
    for host in config.hosts:
        stages = {s.key: s for s in stages_of(config, host.name)}
        join = stages.get("60-kubeadm-join") or stages["50-kubeadm-init"]
        expected = {"CONTROLLER_MANAGER_PATCH", "SCHEDULER_PATCH"} if "control-plane" in host.roles else set()
        assert expected <= set(join.files) and expected <= set(stages["81-kubeadm-upgrade"].files)
        assert bool(stages["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"]) == ("control-plane" in host.roles)


def test_a_running_control_plane_gets_the_new_settings_through_stage_81(tmp_path: Path, monkeypatch):
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    marker = sandbox.root / "etc/kubernetes/magento/state/control-plane-config"
    # the init marks a fresh control plane, and stage 81 of the same run records the settings it runs
    assert marker.read_text().strip() == kubeadm.control_plane_digest(config.hosts[0], config.hosts[0], config.cluster)
    assert "kubeadm upgrade node phase control-plane --patches /etc/kubernetes/magento/patches --certificate-renewal=false" not in sandbox.changes()
    stage = {s.key: s for s in stages_of(config, "node-a")}["81-kubeadm-upgrade"]

    # Nothing to do when the node runs the rendered settings.
    sandbox.reset_calls()
    assert sandbox.run(stage).returncode == 0
    assert not [c for c in sandbox.changes() if c.startswith("kubeadm")]

    # A cluster set up before this stage kept a record (loopback-only metrics): its static pods are rendered anew.
    marker.unlink()
    sandbox.reset_calls()
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    assert sandbox.changes()[-2:] == [
        "kubeadm init phase upload-config kubeadm --config " + str(sandbox.root / "etc/kubernetes/magento/kubeadm-init.yaml"),
        "kubeadm upgrade node phase control-plane --patches /etc/kubernetes/magento/patches --certificate-renewal=false",
    ]
    assert marker.read_text().strip() == stage.env["CONTROL_PLANE_DIGEST"]
    patch = sandbox.root / "etc/kubernetes/magento/patches/kube-scheduler+strategic.yaml"
    assert "10.10.0.11" in patch.read_text()

    # Changed settings change the digest stage 81 runs with (so Pulumi runs it again) and are applied.
    original = kubeadm.control_plane_components

    def changed():
        components = original()
        components["scheduler"]["extraArgs"].append({"name": "v", "value": "2"})
        return components

    monkeypatch.setattr(kubeadm, "control_plane_components", changed)
    new_stage = {s.key: s for s in stages_of(config, "node-a")}["81-kubeadm-upgrade"]
    assert new_stage.digest() != stage.digest()
    sandbox.reset_calls()
    assert sandbox.run(new_stage).returncode == 0
    assert "kubeadm upgrade node phase control-plane --patches /etc/kubernetes/magento/patches --certificate-renewal=false" in sandbox.changes()



def test_a_changed_api_server_flag_reaches_a_running_control_plane_through_stage_81(tmp_path: Path):
    """Encryption and audit flags are settings of the API server's static pod: a cluster initialised before
    them (or with other audit rotation) gets them from stage 81, as kube-controller-manager's do."""
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    before = {s.key: s for s in stages_of(config, "node-a")}
    audit = config.cluster.audit_log.model_copy(update={"max_age_days": 7})
    changed = config.model_copy(update={"cluster": config.cluster.model_copy(update={"audit_log": audit})})
    after = {s.key: s for s in stages_of(changed, "node-a")}
    assert after["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"] != before["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"]
    # the flag is in the configuration stage 81 uploads (stage 50 copies it, re-run by its changed file)
    cc = cluster_configuration(changed)
    assert args(cc["apiServer"])["audit-log-maxage"] == "7" and args(cc["apiServer"])["profiling"] == "false"
    sandbox.reset_calls()
    for key in ("50-kubeadm-init", "81-kubeadm-upgrade"):
        result = sandbox.run(after[key])
        assert result.returncode == 0, result.stderr
    assert sandbox.changes()[-2:] == [
        "kubeadm init phase upload-config kubeadm --config " + str(sandbox.root / "etc/kubernetes/magento/kubeadm-init.yaml"),
        "kubeadm upgrade node phase control-plane --patches /etc/kubernetes/magento/patches --certificate-renewal=false",
    ]
    uploaded = (sandbox.root / "etc/kubernetes/magento/kubeadm-init.yaml").read_text()
    assert "audit-log-maxage" in uploaded and "value: '7'" in uploaded



def test_new_api_sans_reach_the_stored_cluster_configuration_through_stage_81(tmp_path: Path):
    """Stage 65 reissues the certificate; the ClusterConfiguration kubeadm keeps (and hands to a control plane
    joining later) follows the new SANs because they are part of the digest stage 81 applies."""
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    before = {s.key: s for s in stages_of(config, "node-a")}
    access = config.cluster.api_access.model_copy(update={"server": "127.0.0.1:16443"})
    changed = config.model_copy(update={"cluster": config.cluster.model_copy(update={"api_access": access})})
    after = {s.key: s for s in stages_of(changed, "node-a")}
    assert after["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"] != before["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"]
    assert "127.0.0.1" in cluster_configuration(changed)["apiServer"]["certSANs"]
    sandbox.reset_calls()
    for key in ("50-kubeadm-init", "81-kubeadm-upgrade"):
        result = sandbox.run(after[key])
        assert result.returncode == 0, result.stderr
    assert "kubeadm init phase upload-config kubeadm --config " + str(sandbox.root / "etc/kubernetes/magento/kubeadm-init.yaml") \
        in sandbox.changes()
    # the SANs of every other host's digest are the first control plane's: node-b's digest moves with them too
    other = {s.key: s for s in stages_of(changed, "node-b")}["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"]
    assert other and other != {s.key: s for s in stages_of(config, "node-b")}["81-kubeadm-upgrade"].env["CONTROL_PLANE_DIGEST"]


def test_a_worker_gets_no_control_plane_settings():
    config = stack_config("prod")
    worker = config.hosts[1].model_copy(update={"roles": ["worker"]})
    assert kubeadm.control_plane_digest(worker, config.hosts[0], config.cluster) == "" and kubeadm.control_plane_patches(worker) == {}
    assert "controlPlane" not in yaml.safe_load(kubeadm.join_configuration_template(worker, config.cluster))


def test_the_firewall_admits_the_metrics_ports_only_from_the_cluster_network(tmp_path: Path):
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    stage = next(s for s in stages_of(config, "node-b") if s.key == "10-baseline")
    assert sandbox.run(stage).returncode == 0
    rules = sandbox.tree()["etc/nftables.conf"][0]
    nft = shutil.which("nft") or "/usr/sbin/nft"
    path = tmp_path / "nftables.conf"
    path.write_text(rules)
    done = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    chain = rules.split("chain input {", 1)[1]
    assert "policy drop;" in chain  # what no rule accepts is dropped
    accepts = [line.strip() for line in chain.splitlines() if line.strip().endswith("accept")]
    cluster = "ip saddr { 10.10.0.0/24, 10.244.0.0/16 } accept"
    assert cluster in accepts  # the vRack and the pods (Prometheus) reach every port
    for line in accepts:
        if line != cluster:  # admins (SSH, API), jump hosts, public ports, loopback, established, ICMP
            assert not any(re.search(rf"\b{port}\b", line) for port in kubeadm.METRICS_PORTS), line


@pytest.mark.parametrize("port", [2381, 10257, 10259])
def test_a_metrics_port_cannot_be_made_public(port):
    raw = stack_config("prod").model_dump(by_alias=True, mode="json")
    raw["cluster"]["firewall"] = {"publicTcpPorts": [80, 443, port]}
    with pytest.raises(ConfigError) as error:
        validate(raw)
    assert f"port {port} is for admins or the cluster only and cannot be public" in str(error.value)
