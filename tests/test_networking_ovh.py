"""MetalLB on OVH (issue 9, item 13): ARP announcements reach the internet only for an additional IP block routed
to the vRack, answered on the vRack interface. The model names the interface (default: each host's
privateInterface) and the block, rejects the public NIC and pools in a host's public subnet with one line naming
the key, and the baseline renders the return routing through the block's gateway, checked with the real
`netplan generate`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.config.loader import ConfigError, validate
from tests.hosts_sandbox import Sandbox, stack_config
from tests.layer_helpers import kind, rendered
from tests.test_hosts_idempotency import stages_of

WORKERS_ONLY = [{"matchExpressions": [{"key": "node-role.kubernetes.io/witness", "operator": "DoesNotExist"}]}]


def prod_raw() -> dict:
    return stack_config("prod").model_dump(by_alias=True, mode="json", exclude_none=True)


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        validate(raw)
    return [str(p) for p in error.value.problems]


def test_prod_announces_the_vrack_block_on_the_private_interface(prod) -> None:
    (l2,) = kind(prod, "L2Advertisement")
    assert l2.inputs["spec"] == {"ipAddressPools": ["public"], "interfaces": ["enp3s0f1"], "nodeSelectors": WORKERS_ONLY}
    (pool,) = kind(prod, "IPAddressPool")
    assert pool.inputs["spec"]["addresses"] == ["203.0.113.241-203.0.113.253"]  # inside 203.0.113.240/28, off .240/.254/.255


def test_speakers_announce_from_control_planes_that_run_workloads(prod, dev) -> None:
    """kubeadm labels every control plane node.kubernetes.io/exclude-from-external-load-balancers; prod's
    servers are all control planes, so the speaker must not skip them (the witness is left out by nodeSelectors)."""
    speaker = next(r.inputs for r in rendered(prod, "metallb", "DaemonSet") if r.inputs["metadata"]["name"].endswith("speaker"))
    container = next(c for c in speaker["spec"]["template"]["spec"]["containers"] if c["name"] == "speaker")
    assert "--ignore-exclude-lb" in container["args"]
    dev_speaker = next(r.inputs for r in rendered(dev, "metallb", "DaemonSet") if r.inputs["metadata"]["name"].endswith("speaker"))
    assert "--ignore-exclude-lb" not in next(c for c in dev_speaker["spec"]["template"]["spec"]["containers"] if c["name"] == "speaker")["args"]
    (dev_l2,) = kind(dev, "L2Advertisement")
    assert set(dev_l2.inputs["spec"]) == {"ipAddressPools"}  # a laptop cluster: any interface, any node


def test_announcing_on_the_public_interface_is_rejected() -> None:
    raw = prod_raw()
    raw["networking"]["l2Interfaces"] = ["enp3s0f0"]
    assert problems(raw) == [
        "networking.l2Interfaces[0]: enp3s0f0 is hosts[0].publicInterface: ARP for a LoadBalancer address is answered on the "
        "vRack only; leave l2Interfaces empty to announce on each host's privateInterface"
    ]


def test_an_interface_no_host_has_on_the_vrack_is_rejected() -> None:
    raw = prod_raw()
    for host in raw["hosts"]:
        host.pop("publicInterface")
    raw["networking"]["l2Interfaces"] = ["eth0"]
    assert problems(raw) == [
        "networking.l2Interfaces[0]: eth0 is no host's privateInterface: MetalLB announces on the vRack interface; "
        "leave l2Interfaces empty to announce on each host's privateInterface"
    ]


def test_a_pool_inside_a_hosts_public_subnet_is_rejected() -> None:
    """The pool prod had: a /28 of the servers' own public /24, announced on the public NIC."""
    raw = prod_raw()
    raw["networking"]["loadBalancerPools"][0]["addresses"] = ["198.51.100.240/28"]
    raw["edge"]["gatewayAddress"] = "198.51.100.241"
    assert problems(raw) == [
        "networking.loadBalancerPools[0].addresses[0]: 198.51.100.240/28 lies in hosts[0].publicNetwork 198.51.100.0/24: OVH "
        "routes only the server's own addresses there; use an additional IP block routed to the vRack (networking.vrackBlock)"
    ]


def test_a_public_pool_needs_the_vrack_block_and_must_lie_in_it_off_its_reserved_addresses() -> None:
    raw = prod_raw()
    del raw["networking"]["vrackBlock"]
    assert problems(raw) == [
        "networking.loadBalancerPools[0].addresses[0]: 203.0.113.241-203.0.113.253 lies outside cluster.privateNetwork and "
        "networking.vrackBlock is not set: on OVH, ARP reaches the vRack only for an additional IP block routed to it; "
        "set networking.vrackBlock to that block"
    ]
    raw = prod_raw()
    raw["networking"]["loadBalancerPools"][0]["addresses"] = ["203.0.113.240/28"]
    assert problems(raw) == [
        "networking.loadBalancerPools[0].addresses[0]: 203.0.113.240/28 includes 203.0.113.240, 203.0.113.254, 203.0.113.255, "
        "reserved by OVH in 203.0.113.240/28 (network, gateway, broadcast): hand out the addresses between them"
    ]
    raw = prod_raw()
    raw["networking"]["loadBalancerPools"].append({"name": "more", "addresses": ["192.0.2.16/28"]})
    assert problems(raw) == [
        "networking.loadBalancerPools[1].addresses[0]: 192.0.2.16/28 is outside networking.vrackBlock.cidr 203.0.113.240/28: "
        "only that block reaches the vRack"
    ]
    raw = prod_raw()
    raw["networking"]["vrackBlock"]["gateway"] = "203.0.113.1"
    assert problems(raw) == ["networking.vrackBlock.gateway: 203.0.113.1 is outside networking.vrackBlock.cidr 203.0.113.240/28"]
    raw = prod_raw()
    raw["networking"]["vrackBlock"] = {"cidr": "10.10.0.240/28"}
    assert problems(raw) == [
        "networking.loadBalancerPools[0].addresses[0]: 203.0.113.241-203.0.113.253 is outside networking.vrackBlock.cidr "
        "10.10.0.240/28: only that block reaches the vRack",
        "networking.vrackBlock.cidr: overlaps cluster.privateNetwork 10.10.0.0/24",
    ]


def test_an_internal_pool_on_the_vrack_subnet_needs_no_block() -> None:
    raw = prod_raw()
    raw["networking"]["loadBalancerPools"].append({"name": "internal", "addresses": ["10.10.0.200-10.10.0.220"], "autoAssign": False})
    validate(raw)


def netplan() -> str:
    found = shutil.which("netplan") or ("/usr/sbin/netplan" if Path("/usr/sbin/netplan").exists() else None)
    assert found, "netplan is missing: Debian's netplan.io comes with the packages in .ci/run"
    return found


def baseline_tree(tmp_path: Path, host: str) -> dict[str, tuple[str, int]]:
    sandbox = Sandbox(tmp_path)
    stage = next(s for s in stages_of(stack_config("prod"), host) if s.key == "10-baseline")
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    return sandbox.tree()


def generate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    root = tmp_path / "netplan-root"
    (root / "etc/netplan").mkdir(parents=True, exist_ok=True)
    path = root / "etc/netplan/60-magento-private.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return subprocess.run([netplan(), "generate", "--root-dir", str(root)], capture_output=True, text=True, timeout=60, check=False)


def test_replies_from_the_block_leave_through_its_gateway_on_the_vrack(tmp_path: Path) -> None:
    text, mode = baseline_tree(tmp_path / "a", "node-a")["etc/netplan/60-magento-private.yaml"]
    assert mode == 0o600
    done = generate(tmp_path, text)
    assert done.returncode == 0, done.stderr
    network = (tmp_path / "netplan-root/run/systemd/network/10-netplan-enp3s0f1.network").read_text()
    assert "Address=10.10.0.11/24" in network
    assert "[Route]\nDestination=0.0.0.0/0\nGateway=203.0.113.254\nGatewayOnLink=true\nTable=100\n" in network
    assert "[RoutingPolicyRule]\nFrom=203.0.113.240/28\nTable=100\nPriority=100\n" in network
    # netplan rejects a broken file: the check is real
    assert generate(tmp_path / "broken", text.replace("on-link: true", "on-link: maybe")).returncode != 0


def test_the_witness_gets_no_return_route(tmp_path: Path) -> None:
    text, _ = baseline_tree(tmp_path / "w", "witness")["etc/netplan/60-magento-private.yaml"]
    done = generate(tmp_path, text)
    assert done.returncode == 0, done.stderr
    network = (tmp_path / "netplan-root/run/systemd/network/10-netplan-enp1s0f1.network").read_text()
    assert "Address=10.10.0.13/24" in network and "RoutingPolicyRule" not in network and "Table=" not in network
