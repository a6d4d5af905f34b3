"""Init and join as they fail on a server: the join secrets as pulumi-command delivers them, and the
half-finished init and join states a lost connection or a kubeadm timeout leaves behind.

Each test runs the rendered prod stage scripts in the sandbox (tests/hosts_sandbox); the stand-in of
kubeadm can be told to stop half-way (`fail-init`, `fail-join`), writing what the real one has written
by then: kubelet.conf, admin.conf, the etcd manifest and an unstarted etcd member.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config.model import StackConfig
from hosts.stages import Stage
from tests.hosts_sandbox import Sandbox, encryption_stdin, provider_stdout, stack_config
from tests.test_hosts_idempotency import prepare, stages_of


@pytest.fixture(scope="module")
def prod_config() -> StackConfig:
    return stack_config("prod")


def by_key(config: StackConfig, host: str) -> dict[str, Stage]:
    return {s.key: s for s in stages_of(config, host)}


def run_until(sandbox: Sandbox, stages: dict[str, Stage], last: str) -> None:
    keys = encryption_stdin(stack_config("prod"))
    for key, stage in stages.items():
        if stage.create is None or key == last:
            break
        assert sandbox.run(stage, stdin=keys if stage.number == "45" else "").returncode == 0, key


def join_secrets(sandbox: Sandbox, stages: dict[str, Stage]) -> str:
    result = sandbox.run(stages["55-join-token"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")  # what the script prints ...
    return provider_stdout(result.stdout)  # ... and what stage 60 receives


def joined_config(sandbox: Sandbox) -> dict:
    return yaml.safe_load((sandbox.state / "join-config-seen").read_text())


# ------------------------------------------------------------------ 1. join secrets from trimmed stdout


@pytest.mark.parametrize("host", ["node-b", "witness"])
def test_control_plane_join_gets_the_certificate_key_from_trimmed_stdout(tmp_path: Path, prod_config: StackConfig, host: str) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, host)
    stages = by_key(prod_config, host)
    run_until(sandbox, stages, "55-join-token")
    secrets = join_secrets(sandbox, stages)
    assert not secrets.endswith("\n") and secrets.splitlines()[-1].startswith("certificate_key=")
    result = sandbox.run(stages["60-kubeadm-join"], stdin=secrets)
    assert result.returncode == 0, result.stderr
    assert joined_config(sandbox)["controlPlane"]["certificateKey"] == "0123456789abcdef" * 4
    assert (sandbox.root / "etc/kubernetes/magento/state/join.done").exists()


def test_control_plane_join_without_certificate_key_stops_before_kubeadm(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    stages = by_key(prod_config, "node-b")
    run_until(sandbox, stages, "55-join-token")
    sandbox.reset_calls()
    result = sandbox.run(stages["60-kubeadm-join"], stdin="token=abcdef.0123456789abcdef\nca_hash=sha256:1234abcd")
    assert result.returncode != 0
    assert "no certificate key on stdin: a control plane cannot join without it" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith("kubeadm")]


def test_worker_join_reads_the_last_line_without_newline(tmp_path: Path) -> None:
    config = stack_config("prod")
    worker = config.hosts[1].model_copy(update={"roles": ["worker"]})
    config = config.model_copy(update={"hosts": [config.hosts[0], worker, config.hosts[2]]})
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-b")
    stages = by_key(config, "node-b")
    run_until(sandbox, stages, "55-join-token")
    secrets = join_secrets(sandbox, stages)
    assert secrets.splitlines()[-1] == "certificate_key="
    # The token on the last line, no newline: read as well.
    reordered = "\n".join(sorted(secrets.splitlines(), key=lambda line: line.startswith("token=")))
    assert sandbox.run(stages["60-kubeadm-join"], stdin=reordered).returncode == 0
    assert joined_config(sandbox)["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    assert "controlPlane" not in joined_config(sandbox)


# ------------------------------------------------------------------ 4. half-finished init


def test_interrupted_init_is_reset_and_retried(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-a")
    stages = by_key(prod_config, "node-a")
    run_until(sandbox, stages, "50-kubeadm-init")
    sandbox.state_file("fail-init", "")
    failed = sandbox.run(stages["50-kubeadm-init"])
    assert failed.returncode != 0
    state = sandbox.root / "etc/kubernetes/magento/state"
    # admin.conf exists, as after a real half-finished init; it does not count as done.
    assert (sandbox.root / "etc/kubernetes/admin.conf").exists() and not (state / "init.done").exists()
    (sandbox.state / "fail-init").unlink()
    sandbox.reset_calls()
    again = sandbox.run(stages["50-kubeadm-init"])
    assert again.returncode == 0, again.stderr
    changes = sandbox.changes()
    assert changes.index("kubeadm reset --force") < next(i for i, c in enumerate(changes) if c.startswith("kubeadm init --config"))
    assert (state / "init.done").exists() and not (state / "init.started").exists()
    assert [m.split(", ")[1:3] for m in sandbox.members()] == [["started", "node-a"]]


def test_init_that_did_not_become_healthy_is_not_done(tmp_path: Path, prod_config: StackConfig) -> None:
    """kubeadm init returns 0 but etcd never answers: the stage fails, and the next run resets."""
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-a")
    stages = by_key(prod_config, "node-a")
    run_until(sandbox, stages, "50-kubeadm-init")
    sandbox.state_file("etcd-unhealthy", "")
    result = sandbox.run(stages["50-kubeadm-init"])
    assert result.returncode != 0 and "the local etcd member is not healthy" in result.stderr
    assert (sandbox.root / "etc/kubernetes/magento/state/init.started").exists()


def test_foreign_partial_control_plane_is_never_reset(tmp_path: Path, prod_config: StackConfig) -> None:
    """kubeadm files this stage did not create (no marker) and an incomplete control plane: stop, don't reset."""
    sandbox = Sandbox(tmp_path)
    stages = by_key(prod_config, "node-a")
    kube = sandbox.root / "etc/kubernetes"
    kube.mkdir(parents=True)
    (kube / "admin.conf").write_text("admin kubeconfig\n")
    result = sandbox.run(stages["50-kubeadm-init"])
    assert result.returncode != 0 and "this stage did not start it" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith("kubeadm")]


def test_complete_control_plane_without_markers_is_adopted(tmp_path: Path, prod_config: StackConfig) -> None:
    """A cluster initialised by the previous version of this layer (no markers) is verified and kept."""
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-a")
    stages = by_key(prod_config, "node-a")
    run_until(sandbox, stages, "70-node")
    state = sandbox.root / "etc/kubernetes/magento/state"
    for marker in state.iterdir():
        marker.unlink()
    sandbox.reset_calls()
    result = sandbox.run(stages["50-kubeadm-init"])
    assert result.returncode == 0 and "adopted" in result.stderr
    assert not [c for c in sandbox.changes() if c.startswith("kubeadm")] and (state / "init.done").exists()


# ------------------------------------------------------------------ 4. half-finished and failed joins


def test_failed_control_plane_join_leaves_no_etcd_member_and_retries(tmp_path: Path, prod_config: StackConfig) -> None:
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    stages = by_key(prod_config, "node-b")
    sandbox.state_file("hostname", "node-b")
    run_until(sandbox, stages, "55-join-token")
    secrets = join_secrets(sandbox, stages)
    sandbox.state_file("fail-join", "")
    sandbox.reset_calls()
    failed = sandbox.run(stages["60-kubeadm-join"], stdin=secrets)
    assert failed.returncode != 0 and "kubeadm join of node-b failed" in failed.stderr
    assert "kubeadm reset --force" in sandbox.changes()
    assert [m.split(", ")[2] for m in sandbox.members()] == ["node-a"]  # no dead member counts against quorum
    assert not (sandbox.root / "etc/kubernetes/kubelet.conf").exists()
    (sandbox.state / "fail-join").unlink()
    assert sandbox.run(stages["60-kubeadm-join"], stdin=secrets).returncode == 0
    assert sorted(m.split(", ")[2] for m in sandbox.members()) == ["node-a", "node-b"]


def test_interrupted_join_is_reset_before_joining_again(tmp_path: Path, prod_config: StackConfig) -> None:
    """The connection dropped during kubeadm join: kubelet.conf exists, join.started, no join.done."""
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    stages = by_key(prod_config, "node-b")
    run_until(sandbox, stages, "55-join-token")
    secrets = join_secrets(sandbox, stages)
    state = sandbox.root / "etc/kubernetes/magento/state"
    state.mkdir(parents=True)
    (state / "join.started").write_text("2026-12-02T18:00:00Z\n")
    (sandbox.root / "etc/kubernetes/kubelet.conf").write_text("kubelet kubeconfig\n")
    sandbox.reset_calls()
    assert sandbox.run(stages["60-kubeadm-join"], stdin=secrets).returncode == 0
    changes = sandbox.changes()
    assert changes.index("kubeadm reset --force") < next(i for i, c in enumerate(changes) if c.startswith("kubeadm join"))
    assert (state / "join.done").exists() and not (state / "join.started").exists()


def test_join_token_removes_a_stale_etcd_member_of_the_joining_host(tmp_path: Path, prod_config: StackConfig) -> None:
    """A control plane whose earlier join died with the server left an unstarted member with its peer URL."""
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, prod_config, "node-b")
    stages = by_key(prod_config, "node-b")
    sandbox.state_file(
        "etcd/members",
        "8e9e05c52164694d, started, node-a, https://10.10.0.11:2380, https://10.10.0.11:2379, false\n"
        "91bc3c398fb3c146, unstarted, , https://10.10.0.12:2380, , false\n",
    )
    result = sandbox.run(stages["55-join-token"])
    assert result.returncode == 0, result.stderr
    assert "removed the etcd member 91bc3c398fb3c146" in result.stderr
    assert [m.split(", ")[0] for m in sandbox.members()] == ["8e9e05c52164694d"]
