"""The hosts layer under mocks: per-host command graph, connections, join order, secrets, growth."""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import yaml

from hosts.stages import stages_by_host
from offline.engine import Recorded, Recording
from offline.stackfile import ROOT, placeholder
from tests.hosts_sandbox import stack_config

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
STAGES_FIRST = [
    "preflight", "10-baseline", "15-api-vip", "20-zfs", "30-containerd", "40-kubernetes-packages", "45-apiserver-files",
    "50-kubeadm-init", "65-apiserver-cert", "70-node", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon",
]
STAGES_JOINING = [
    "preflight", "10-baseline", "15-api-vip", "20-zfs", "30-containerd", "40-kubernetes-packages", "45-apiserver-files",
    "55-join-token", "60-kubeadm-join", "65-apiserver-cert", "70-node", "71-leave", "72-drain", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon",
]


def prod_values() -> dict:
    return copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"])


def host_commands(rec: Recording, host: str) -> list[Recorded]:
    parent = rec.named(host, "magento:hosts:Host")
    return [r for r in rec.children(parent) if r.type == COMMAND]


def stage_keys(rec: Recording, host: str) -> list[str]:
    keys = [r.name[len(host) + 1 :] for r in host_commands(rec, host)]
    return sorted(keys, key=lambda k: "00" if k == "preflight" else k)


def depends_on(rec: Recording, name: str) -> set[str]:
    return {rec.by_urn[urn].name for urn in rec.named(name, COMMAND).dependencies}


def test_stages_per_host_in_prod(prod: Recording) -> None:
    assert stage_keys(prod, "node-a") == STAGES_FIRST
    assert stage_keys(prod, "node-b") == STAGES_JOINING
    assert stage_keys(prod, "witness") == [s for s in STAGES_JOINING if s != "20-zfs"]  # no pool on the witness


@pytest.mark.parametrize("host,stages", [("node-a", STAGES_FIRST), ("node-b", STAGES_JOINING)])
def test_each_stage_waits_for_the_one_before(prod: Recording, host: str, stages: list[str]) -> None:
    for before, after in itertools.pairwise(stages):
        assert f"{host}-{before}" in depends_on(prod, f"{host}-{after}")


def test_stage_commands_run_their_copied_script_and_hash_it(prod: Recording) -> None:
    config = stack_config("prod")
    for host in config.hosts:
        for stage in stages_by_host(config.hosts, config.cluster, config.networking.vrack_block)[host.name]:
            cmd = prod.named(f"{host.name}-{stage.key}", COMMAND)
            copies = {r.name: r for r in prod.resources if r.type == COPY and r.name.startswith(f"{host.name}-{stage.key}-")}
            assert set(copies) <= depends_on(prod, cmd.name)
            env = copies[f"{host.name}-{stage.key}-stage.env"]
            if stage.acts_on_delete:
                assert cmd.inputs["triggers"] == [f"{host.name}/{stage.key}"]
            else:
                assert cmd.inputs["triggers"][0] == stage.digest()
            for invocation in (stage.create, stage.delete):
                if invocation is None:
                    continue
                script = copies[f"{host.name}-{stage.key}-{invocation.script}"]
                assert script.inputs["source"]["text"] == stage.scripts[invocation.script]
                assert script.inputs["source"]["text"].startswith("#!/usr/bin/env bash")
                assert "# --- lib.sh (inlined)" in script.inputs["source"]["text"]
                line = f"sudo bash {script.inputs['remotePath']} {env.inputs['remotePath']}"
                assert line in (cmd.inputs["create"] if invocation is stage.create else cmd.inputs["delete"])
            if stage.acts_on_delete:
                assert cmd.inputs["create"].endswith(f"  # stage {stage.digest()[:16]}")


def test_connections_come_from_config_with_the_key_secret(prod: Recording) -> None:
    config = stack_config("prod")
    for host in config.hosts:
        for r in host_commands(prod, host.name):
            runs_on_first = re.search(r"-(55|70|72|80|82)-", r.name) is not None
            target = config.hosts[0] if runs_on_first else host
            conn = r.inputs["connection"]
            assert conn["host"] == target.public_address and conn["user"] == target.ssh.user
            assert conn["port"] == target.ssh.port and conn["hostKey"] == target.ssh.host_key
            assert conn["dialErrorLimit"] == target.ssh.dial_error_limit and conn["perDialTimeout"] == target.ssh.per_dial_timeout
            assert conn["privateKey"] == placeholder("sshPrivateKey")
            assert r.is_secret("connection.privateKey")


def test_no_secret_in_any_command_text(prod: Recording) -> None:
    for r in prod.resources:
        if r.type in (COMMAND, COPY):
            text = " ".join(str(r.inputs.get(k, "")) for k in ("create", "delete", "update", "source"))
            assert placeholder("sshPrivateKey") not in text and "offline-stdout" not in text


def test_join_only_after_init_one_host_at_a_time(prod: Recording) -> None:
    assert {"node-a-50-kubeadm-init", "node-a-70-node"} <= depends_on(prod, "node-b-55-join-token")
    assert "node-b-70-node" in depends_on(prod, "witness-55-join-token")
    assert "node-b-55-join-token" in depends_on(prod, "node-b-60-kubeadm-join")


def test_join_token_is_secret_and_never_logged(prod: Recording) -> None:
    token = prod.named("node-b-55-join-token", COMMAND)
    assert token.inputs["logging"] == "none"
    assert token.inputs["connection"]["host"] == "198.51.100.11"  # fetched from the first control plane
    join = prod.named("node-b-60-kubeadm-join", COMMAND)
    assert join.inputs["stdin"] == token.outputs["stdout"] and join.is_secret("stdin")
    assert "stdin" not in join.inputs["create"] and "token" not in join.inputs["create"]


def test_kubeconfig_is_a_secret_output_read_after_init(prod: Recording) -> None:
    assert prod.stack_outputs["kubeconfig"]["secret"] is True
    read = prod.named("read-admin-kubeconfig", COMMAND)
    assert read.inputs["logging"] == "none" and "node-a-50-kubeadm-init" in depends_on(prod, read.name)
    assert prod.stack_outputs["failureDomains"]["value"] == 3


def test_removal_drains_resets_then_deletes(prod: Recording) -> None:
    """Pulumi deletes dependents first: 72 (drain) -> 71 (kubeadm reset on the host) -> 70 (delete node)."""
    assert "node-b-71-leave" in depends_on(prod, "node-b-72-drain")
    assert "node-b-70-node" in depends_on(prod, "node-b-71-leave")
    assert "75-node-remove.sh" in prod.named("node-b-72-drain").inputs["delete"] and prod.named("node-b-72-drain").inputs["delete"].endswith(" drain")
    assert "76-kubeadm-reset.sh" in prod.named("node-b-71-leave").inputs["delete"]
    assert prod.named("node-b-70-node").inputs["delete"].endswith(" delete")
    assert prod.named("node-b-71-leave").inputs["connection"]["host"] == "198.51.100.12"
    assert "delete" not in prod.named("node-a-70-node").inputs  # the first control plane is the cluster


def test_upgrades_go_one_node_at_a_time(prod: Recording) -> None:
    assert "node-a-82-upgrade-uncordon" in depends_on(prod, "node-b-80-upgrade-drain")
    assert "node-b-82-upgrade-uncordon" in depends_on(prod, "witness-80-upgrade-drain")


def test_all_host_resources_are_named_and_parented_by_host(prod: Recording) -> None:
    for r in prod.resources:
        if r.type not in (COMMAND, COPY) or r.name == "read-admin-kubeconfig":
            continue
        parent = prod.by_urn[r.parent]
        assert parent.type == "magento:hosts:Host"
        assert re.match(rf"^{parent.name}-(\d\d-[a-z-]+|preflight$)", r.name), r.name


def inputs_by_name(rec: Recording) -> dict[str, dict]:
    return {r.name: {k: r.inputs.get(k) for k in ("create", "delete", "triggers", "stdin", "source", "remotePath")}
            for r in rec.resources if r.type in (COMMAND, COPY)}


def test_one_host_cluster(run) -> None:
    values = prod_values()
    values["magento:hosts"] = values["magento:hosts"][:1]
    values["magento:cluster"]["highAvailability"] = False
    for service in values["magento:data"].values():
        service.pop("replicas")
    rec = run(values, stack="prod")
    assert [r.name for r in rec.of_type("magento:hosts:Host")] == ["node-a"]
    assert stage_keys(rec, "node-a") == STAGES_FIRST
    assert not [r for r in rec.of_type(COMMAND) if "join" in r.name]
    assert rec.stack_outputs["failureDomains"]["value"] == 1
    assert rec.stack_outputs["kubeconfig"]["secret"] is True


def test_adding_a_host_changes_nothing_on_the_others(prod: Recording, run) -> None:
    values = prod_values()
    values["magento:hosts"].append({
        "name": "node-c", "publicAddress": "198.51.100.14", "privateAddress": "10.10.0.14",
        "privateInterface": "enp3s0f1", "roles": ["worker"], "failureDomain": "rbx-c",
        "ssh": {"hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC7ic0Ttd0o83USBJWkGznMMswM3j+UMbABfTYfXl2Tc"},
        "zfs": {"disks": [{"id": "/dev/disk/by-id/nvme-c1"}, {"id": "/dev/disk/by-id/nvme-c2"}]},
    })
    grown = run(values, stack="prod")
    before, after = inputs_by_name(prod), inputs_by_name(grown)
    assert {k: v for k, v in after.items() if not k.startswith("node-c-")} == before
    # A worker: no keepalived, no API server.
    assert stage_keys(grown, "node-c") == [s for s in STAGES_JOINING if s not in ("15-api-vip", "45-apiserver-files", "65-apiserver-cert")]
    assert "witness-70-node" in depends_on(grown, "node-c-55-join-token")  # joins after the last host
    assert "witness-82-upgrade-uncordon" in depends_on(grown, "node-c-80-upgrade-drain")
    assert grown.stack_outputs["failureDomains"]["value"] == 4


def triggers(rec: Recording) -> dict[str, list]:
    return {r.name: r.inputs.get("triggers") for r in rec.of_type(COMMAND)}


def test_a_changed_parameter_reruns_only_its_stage(prod: Recording, run) -> None:
    values = prod_values()
    values["magento:cluster"]["hostOs"] = {"ntpServers": ["time.example.net"]}
    changed = triggers(run(values, stack="prod"))
    differ = {name for name, value in triggers(prod).items() if changed[name] != value}
    assert differ == {"node-a-10-baseline", "node-b-10-baseline", "witness-10-baseline"}


def test_a_minor_upgrade_reruns_packages_and_the_upgrade_window(prod: Recording, run) -> None:
    values = prod_values()
    values["magento:cluster"].update(kubernetesVersion="1.37.1", upgradeFrom="1.36.4")
    changed = triggers(run(values, stack="prod"))
    differ = {name for name, value in triggers(prod).items() if changed[name] != value}
    window = ("40-kubernetes-packages", "80-upgrade-drain", "81-kubeadm-upgrade", "82-upgrade-uncordon")
    # 50-kubeadm-init renders the version too; its script leaves an initialised host alone. The
    # kubeconfig is read again: `kubeadm upgrade apply` renewed its client certificate.
    expected = {f"{h}-{s}" for h in ("node-a", "node-b", "witness") for s in window}
    assert differ == expected | {"node-a-50-kubeadm-init", "read-admin-kubeconfig"}


def test_a_label_change_updates_the_node_stage_without_replacing_it(prod: Recording, run) -> None:
    """70-node deletes the Node when replaced, so its triggers stay fixed; the command text carries the hash."""
    values = prod_values()
    values["magento:hosts"][1]["labels"] = {"example.com/tier": "web"}
    changed = run(values, stack="prod")
    before, after = prod.named("node-b-70-node", COMMAND), changed.named("node-b-70-node", COMMAND)
    assert after.inputs["triggers"] == before.inputs["triggers"] == ["node-b/70-node"]
    assert after.inputs["create"] != before.inputs["create"] and after.inputs["delete"] == before.inputs["delete"]
    env = changed.named("node-b-70-node-stage.env", COPY).inputs["source"]["text"]
    assert "example.com/tier=web" in env
