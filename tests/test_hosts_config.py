"""Bad host and upgrade settings are rejected before anything is registered, naming the key."""

from __future__ import annotations

import pytest

from components.config.loader import validate
from tests.layer_helpers import problem_lines, stack_values


def prod_raw() -> dict:
    return stack_values("prod")


problems = problem_lines


def with_cluster(**settings: object) -> dict:
    raw = prod_raw()
    raw["cluster"].update(settings)
    return raw


def test_prod_stack_file_is_valid() -> None:
    config = validate(prod_raw())
    assert config.cluster.host_os.ntp_servers and config.cluster.firewall.enabled


def test_skipping_a_minor_is_rejected() -> None:
    found = problems(with_cluster(kubernetesVersion="1.37.1", upgradeFrom="1.35.9"))
    assert found == ["cluster.kubernetesVersion: upgrading from 1.35.9 to 1.37.1 skips a minor: go to 1.36 first"]


def test_downgrade_is_rejected() -> None:
    found = problems(with_cluster(kubernetesVersion="1.36.2", upgradeFrom="1.36.4"))
    assert found == ["cluster.kubernetesVersion: 1.36.2 is older than cluster.upgradeFrom 1.36.4: kubeadm cannot downgrade"]


def test_next_minor_and_patch_upgrades_are_accepted() -> None:
    assert validate(with_cluster(kubernetesVersion="1.37.1", upgradeFrom="1.36.4")).cluster.upgrade_from == "1.36.4"
    assert validate(with_cluster(kubernetesVersion="1.36.5", upgradeFrom="1.36.4")).cluster.kubernetes_version == "1.36.5"


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({"upgradeFrom": "1.36"}, "cluster.upgradeFrom: must be a full Kubernetes version"),
        ({"hostOs": {"timezone": "Europe/Paris; rm -rf /"}}, "cluster.hostOs.timezone:"),
        ({"hostOs": {"ntpServers": ["pool.ntp.org", "bad server"]}}, "cluster.hostOs.ntpServers[1]: 'bad server' is not a host name"),
        ({"hostOs": {"ntpServers": []}}, "cluster.hostOs.ntpServers:"),
        ({"hostOs": {"kernelVersion": "6.8"}}, "cluster.hostOs.kernelVersion:"),
        ({"hostOs": {"sshAllowUsers": ["Root!"]}}, "cluster.hostOs.sshAllowUsers[0]: 'Root!' is not a valid user name"),
        ({"hostOs": {"unattendedUpgrades": "sometimes"}}, "cluster.hostOs.unattendedUpgrades:"),
        ({"firewall": {"publicTcpPorts": [443, 6443]}}, "cluster.firewall.publicTcpPorts: port 6443 is for admins or the cluster only"),
        ({"firewall": {"publicTcpPorts": [70000]}}, "cluster.firewall.publicTcpPorts: 70000 is not a TCP port"),
        ({"firewall": {"enabled": True, "openEverything": True}}, "cluster.firewall.openEverything: not a known setting"),
        ({"registryMirrors": [{"registry": "docker.io", "endpoint": "http://harbor.local/v2/x"}]}, "cluster.registryMirrors[0].endpoint:"),
        ({"registryMirrors": [{"registry": "Docker.IO", "endpoint": "https://harbor.example.com"}]}, "cluster.registryMirrors[0].registry:"),
        ({"kubelet": {"maxPods": 500}}, "cluster.kubelet.maxPods:"),
        ({"kubelet": {"systemReservedMemory": "lots"}}, "cluster.kubelet.systemReservedMemory:"),
        ({"kubelet": {"evictionNodefsAvailable": "10"}}, "cluster.kubelet.evictionNodefsAvailable:"),
        ({"adminNetworks": []}, "cluster.adminNetworks: required when cluster.firewall.enabled"),
        ({"privateNetwork": None}, "cluster.privateNetwork: required when cluster.firewall.enabled"),
    ],
)
def test_bad_host_settings_name_their_key(settings: dict, expected: str) -> None:
    found = problems(with_cluster(**settings))
    assert any(p.startswith(expected) for p in found), found


def test_duplicate_registry_mirror_is_rejected() -> None:
    mirror = {"registry": "docker.io", "endpoint": "https://harbor.example.com/v2/dockerhub", "overridePath": True}
    found = problems(with_cluster(registryMirrors=[mirror, mirror]))
    assert found == ["cluster.registryMirrors[1].registry: docker.io already has a mirror at cluster.registryMirrors[0]"]


def test_firewall_off_needs_no_networks() -> None:
    raw = with_cluster(firewall={"enabled": False}, adminNetworks=[])
    assert validate(raw).cluster.firewall.enabled is False


@pytest.mark.parametrize(
    "labels,expected",
    [
        ({"tier": "web *"}, "'web *' (label tier) is not a Kubernetes label value"),
        ({"bad key!": "x"}, "'bad key!' is not a Kubernetes label key"),
        ({"example.com/": "x"}, "'example.com/' is not a Kubernetes label key"),
    ],
)
def test_bad_node_labels_are_rejected(labels: dict, expected: str) -> None:
    raw = prod_raw()
    raw["hosts"][1]["labels"] = labels
    assert any(p.startswith("hosts[1].labels: ") and expected in p for p in problems(raw)), problems(raw)


def test_good_node_labels_are_accepted() -> None:
    raw = prod_raw()
    raw["hosts"][1]["labels"] = {"example.com/tier": "web", "empty": ""}
    assert validate(raw).hosts[1].labels == {"example.com/tier": "web", "empty": ""}
