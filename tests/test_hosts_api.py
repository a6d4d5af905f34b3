"""The API endpoint and the kubeconfig: a keepalived VIP in HA clusters (checked by the real
keepalived), the server `pulumi up` dials, when the kubeconfig is read again, and the one-stack
decision: a first preview with an unknown kubeconfig, and no Kubernetes object waiting on any host
but the first control plane."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hosts import kubeadm
from hosts.layer import read_kubeconfig
from offline.engine import Recording, run_program
from offline.stackfile import ROOT, load_stack
from tests.hosts_sandbox import Sandbox, stack_config
from tests.hosts_sandbox.fake_system import ADMIN_CONF
from tests.layer_helpers import problem_lines, stack_values
from tests.test_hosts_idempotency import stages_of

COMMAND = "command:remote:Command"


def prod_raw() -> dict:
    return stack_values("prod")


problems = problem_lines


# ------------------------------------------------------------------ 2. the endpoint of an HA cluster


def test_ha_endpoint_on_one_hosts_address_is_rejected() -> None:
    raw = prod_raw()
    raw["cluster"]["controlPlaneEndpoint"] = "10.10.0.11:6443"
    del raw["cluster"]["apiVip"]
    assert problems(raw) == [
        "cluster.controlPlaneEndpoint: 10.10.0.11 is node-a's own address: with highAvailability a reboot of node-a "
        "would take the API down; set cluster.apiVip and use its address"
    ]


@pytest.mark.parametrize(
    "vip,endpoint,expected",
    [
        ("10.10.0.10", "10.10.0.9:6443", "cluster.controlPlaneEndpoint: must be 10.10.0.10:6443, the address of cluster.apiVip"),
        ("10.10.0.12", "10.10.0.12:6443", "cluster.apiVip.address: 10.10.0.12 is node-b's own address: the VIP must be a free address"),
        ("10.20.0.10", "10.20.0.10:6443", "cluster.apiVip.address: 10.20.0.10 is not in cluster.privateNetwork 10.10.0.0/24: keepalived announces it on the vRack"),
    ],
)
def test_bad_vip_settings_are_rejected(vip: str, endpoint: str, expected: str) -> None:
    raw = prod_raw()
    raw["cluster"].update(controlPlaneEndpoint=endpoint, apiVip={"address": vip})
    found = problems(raw)
    assert expected in found
    assert all(p.startswith("cluster.") for p in found)


def test_api_certificate_names_the_vip_and_the_access_address() -> None:
    config = stack_config("prod")
    docs = {d["kind"]: d for d in yaml.safe_load_all(kubeadm.init_configuration(config.hosts[0], config.cluster))}
    assert docs["ClusterConfiguration"]["controlPlaneEndpoint"] == "10.10.0.10:6443"
    assert docs["ClusterConfiguration"]["apiServer"]["certSANs"] == ["10.10.0.10", "10.10.0.11", "198.51.100.11"]


def test_keepalived_runs_on_every_control_plane_with_the_others_as_peers() -> None:
    config = stack_config("prod")
    envs = {h.name: next(s for s in stages_of(config, h.name) if s.key == "15-api-vip").env for h in config.hosts}
    assert {name: env["PEERS"] for name, env in envs.items()} == {
        "node-a": "10.10.0.12 10.10.0.13", "node-b": "10.10.0.11 10.10.0.13", "witness": "10.10.0.11 10.10.0.12",
    }
    assert [envs[n]["PRIORITY"] for n in ("node-a", "node-b", "witness")] == ["150", "140", "130"]
    assert {env["VIP"] for env in envs.values()} == {"10.10.0.10"} and envs["witness"]["INTERFACE"] == "enp1s0f1"


def real_interface() -> str:
    """keepalived's config test needs the interface to exist: a non-loopback one of this machine."""
    names = [p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo" and (p / "address").exists()]
    assert names, "no network interface to test keepalived's configuration against"
    return sorted(names)[0]


def test_rendered_keepalived_configuration_passes_keepalived(tmp_path: Path) -> None:
    keepalived = shutil.which("keepalived")
    assert keepalived, "keepalived is missing: apt-get install keepalived (see .ci/run)"
    config = stack_config("prod")
    stage = next(s for s in stages_of(config, "node-b") if s.key == "15-api-vip")
    sandbox = Sandbox(tmp_path)
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    assert "keepalived" in " ".join(sandbox.changes())
    text = (sandbox.root / "etc/keepalived/keepalived.conf").read_text()
    assert "unicast_peer {\n    10.10.0.11\n    10.10.0.13\n  }" in text and "10.10.0.10/24 dev enp3s0f1" in text
    # The check script lives under a world-writable temp dir here, which enable_script_security refuses.
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text.replace("enp3s0f1", real_interface()).replace("/etc/keepalived/check-apiserver.sh", "/bin/true"))
    done = subprocess.run([keepalived, "--config-test", "--use-file", str(conf)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text(conf.read_text().replace("check_unicast_src", "check_unicast_source"))
    assert subprocess.run([keepalived, "--config-test", "--use-file", str(broken)], capture_output=True, timeout=30).returncode != 0
    check = (sandbox.root / "etc/keepalived/check-apiserver.sh").read_text()
    assert "https://127.0.0.1:6443/livez" in check


# ------------------------------------------------------------------ 3. the kubeconfig the program keeps


def test_kubeconfig_names_the_access_server(tmp_path: Path) -> None:
    admin = tmp_path / "admin.conf"
    admin.write_text(ADMIN_CONF)
    command = read_kubeconfig("198.51.100.11:6443").replace("sudo ", "").replace("/etc/kubernetes/admin.conf", str(admin))
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    kubeconfig = yaml.safe_load(out)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://198.51.100.11:6443"
    assert kubeconfig["users"] == yaml.safe_load(ADMIN_CONF)["users"]


def test_kubeconfig_is_read_again_on_rotation_and_after_the_first_upgrade(prod: Recording, run) -> None:
    read = prod.named("read-admin-kubeconfig", COMMAND)
    assert "https://198.51.100.11:6443" in read.inputs["create"] and read.inputs["addPreviousOutputInEnv"] is False
    deps = {prod.by_urn[u].name for u in read.dependencies}
    assert {"node-a-50-kubeadm-init", "node-a-82-upgrade-uncordon"} <= deps
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values["magento:cluster"]["apiAccess"]["rotation"] = 1
    rotated = run(values, stack="prod").named("read-admin-kubeconfig", COMMAND)
    assert rotated.inputs["triggers"] != read.inputs["triggers"] and rotated.inputs["create"] == read.inputs["create"]


def test_secret_outputs_are_not_sent_back_as_environment(prod: Recording) -> None:
    for name in ("node-b-55-join-token", "witness-55-join-token", "read-admin-kubeconfig"):
        assert prod.named(name, COMMAND).inputs["addPreviousOutputInEnv"] is False, name


# ------------------------------------------------------------------ 14. one stack


def test_first_preview_with_an_unknown_kubeconfig_registers_everything() -> None:
    preview = run_program(load_stack("prod"), preview=True)
    provider = preview.named("kubernetes", "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "<unknown at preview>"
    kinds = [r for r in preview.resources if r.type.startswith("kubernetes:")]
    assert len(kinds) > 100 and all(r.provider and "providers:kubernetes::kubernetes" in r.provider for r in kinds)


def closure(rec: Recording, start: str) -> set[str]:
    """Every resource `start` waits for, transitively: its dependencies, its provider and its parent (the
    engine runs a child's step after its parent's, and a component's after its dependencies')."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        urn = todo.pop()
        record = rec.by_urn.get(urn)
        if record is None or urn in seen:
            continue
        seen.add(urn)
        todo += list(record.dependencies)
        if record.provider:
            todo.append(record.provider.rsplit("::", 1)[0])
        if record.parent:
            todo.append(record.parent)
    return seen


def test_kubernetes_objects_wait_only_for_the_first_control_plane(prod: Recording) -> None:
    """A failing stage on node-b or the witness (or a host still joining) holds back no Kubernetes change."""
    others = re.compile(r"::(node-b|witness)-")
    for record in prod.resources:
        if not record.type.startswith("kubernetes:"):
            continue
        waits_for = closure(prod, record.urn)
        assert not [u for u in waits_for if others.search(u)], record.name
    provider = prod.named("kubernetes", "pulumi:providers:kubernetes")
    assert "read-admin-kubeconfig" in {prod.by_urn[u].name for u in closure(prod, provider.urn) if u in prod.by_urn}
