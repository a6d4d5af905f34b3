"""Configuration: the stack files and the valid fixtures pass; every invalid fixture fails with exactly
the lines it expects, before any resource is registered."""

from __future__ import annotations

import dataclasses
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError, validate
from components.config.types import parse_quantity
from offline.engine import install, run_program
from offline.stackfile import ROOT, load_stack_file, settings_from_values
from tests.conftest import FIXTURES, STACKS

INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^# expect: (.+)$", path.read_text(), re.M)]


def test_there_are_at_least_twenty_invalid_fixtures():
    assert len(INVALID) >= 20
    assert all(expected_lines(p) for p in INVALID), "every invalid fixture states the error it must produce"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_fails_with_its_message(path: Path):
    with pytest.raises(ConfigError) as caught:
        run_program(load_stack_file(path))
    assert [str(p) for p in caught.value.problems] == expected_lines(path)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture_builds(path: Path):
    recording = run_program(load_stack_file(path))
    assert recording.of_type("magento:cluster:Cluster")


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_are_valid(stack: str):
    from tests.conftest import recording_for

    assert recording_for(stack).stack_outputs["environment"]["value"] == stack


def test_bad_stack_registers_nothing_and_prints_one_line_per_problem(capsys):
    """__main__.py, as `pulumi up` runs it: exit 1, one line per problem, no resource registered."""
    settings = load_stack_file(FIXTURES / "invalid" / "ha-with-two-servers.yaml")
    monitor = install(settings)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    assert exited.value.code == 1
    assert monitor.records == {}
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"configuration error: {line}" for line in expected_lines(FIXTURES / "invalid" / "ha-with-two-servers.yaml")]


def test_plan_of_a_bad_stack_exits_nonzero_without_traceback(tmp_path: Path):
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    fixture = FIXTURES / "invalid" / "zfs-single-disk.yaml"
    (tmp_path / "Pulumi.broken.yaml").write_text(fixture.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "offline.plan", "--stack", "broken", "--root", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "configuration error: hosts[1].zfs.disks: a mirror needs exactly 2 disks, 1 given" in result.stderr
    assert not (tmp_path / "build").exists()


PROD_SECRETS = ("sshPrivateKey", "backupAccessKeyId", "backupSecretAccessKey", "alertmanagerSmtpPassword", "alertmanagerWebhookToken",
                "ovhApplicationKey", "ovhApplicationSecret", "ovhConsumerKey")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("sshPrivateKey", "required when cluster.mode is kubeadm"),
        ("backupAccessKeyId", "required when backup is set"),
        ("backupSecretAccessKey", "required when backup is set"),
        ("ovhApplicationKey", "required when backup.mediaCredentials is ovh"),
        ("ovhConsumerKey", "required when backup.mediaCredentials is ovh"),
    ],
)
def test_missing_secret_is_named(key: str, message: str):
    import yaml

    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    settings = settings_from_values(values, stack="prod", with_secret_placeholders=False)
    others = {f"magento:{k}": "x" for k in PROD_SECRETS if k != key}
    settings = dataclasses.replace(settings, config={**settings.config, **others}, secret_keys=tuple(others))
    with pytest.raises(ConfigError) as caught:
        run_program(settings)
    assert [p.path for p in caught.value.problems] == [key]
    assert message in str(caught.value)


def test_dns01_needs_the_token_secret():
    import yaml

    values = yaml.safe_load((FIXTURES / "valid" / "dns01-ranges-jumphost.yaml").read_text())["config"]
    values.pop("magento:acmeDnsApiToken")
    settings = settings_from_values(values, stack="prod", with_secret_placeholders=False)
    present = {f"magento:{k}": "x" for k in PROD_SECRETS}
    settings = dataclasses.replace(settings, config={**settings.config, **present}, secret_keys=tuple(present))
    with pytest.raises(ConfigError, match=r"acmeDnsApiToken: required when edge\.acme\.solver is dns01"):
        run_program(settings)


def test_secrets_are_secret_outputs(prod):
    assert prod.stack_outputs["kubeconfig"]["secret"] is True
    provider = prod.named("kubernetes", "pulumi:providers:kubernetes")
    assert "kubeconfig" in provider.secret_paths


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Gi", str(2**30)), ("1G", str(10**9)), ("1.5Mi", str(int(1.5 * 2**20)))],
)
def test_quantities(text: str, value: str):
    assert parse_quantity(text) == type(parse_quantity("1"))(value)


def test_defaults_fill_a_minimal_stack():
    config = validate({"environment": "dev", "cluster": {"mode": "existing"},
                       "networking": {"loadBalancerPools": [{"name": "lab", "addresses": ["192.168.49.240/28"]}]},
                       "edge": {"acme": {"email": "ops@example.org"}}})
    assert config.cluster.kubernetes_version.startswith("1.36.")
    assert config.storage.default_class == "zfs"
    assert config.failure_domains == 1
    assert config.replicas_for(config.data.mysql) == 1


def test_replicas_default_to_three_with_three_failure_domains():
    import yaml

    from components.config.model import DataService

    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    config = validate({key.split(":", 1)[1]: value for key, value in values.items() if key.startswith("magento:")})
    service = DataService.model_validate(
        {"storage": "1Gi", "resources": {"cpuRequest": "1", "memoryRequest": "1Gi", "cpuLimit": "1", "memoryLimit": "1Gi"}}
    )
    assert config.failure_domains == 3
    assert config.replicas_for(service) == 3


def _prod_raw() -> dict:
    import yaml

    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in values.items() if key.startswith("magento:")}


def _set(raw: dict, path: str, value: object) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    target = raw
    for key in keys[:-1]:
        target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
    target[keys[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("protectStateful", "maybe", "valid boolean"),
        ("hosts[0].ssh.hostKey", "not-a-key", "public host key line"),
        ("hosts[0].ssh.dialErrorLimit", 0, "greater than or equal to 1"),
        ("hosts[0].zfs.arcMaxGib", 0, "greater than or equal to 1"),
        ("hosts[0].zfs.pool", "Tank!", "should match pattern"),
        ("hosts[0].privateInterface", "an interface name far too long", "should match pattern"),
        ("cluster.controlPlaneEndpoint", "10.10.0.11", "must be host:port"),
        ("cluster.mode", "kind", "'kubeadm' or 'existing'"),
        ("networking.loadBalancerPools[0].addresses", ["198.51.100.250-198.51.100.240"], "lower to a higher address"),
        ("networking.loadBalancerPools", [], "at least 1 item"),
        ("storage.databaseRecordsize", "4k", "'8k', '16k', '32k', '64k' or '128k'"),
        ("storage.compression", "gzip", "'lz4', 'zstd' or 'off'"),
        ("storage.defaultClass", "ZFS", "should match pattern"),
        ("edge.acme.email", "platform", "should match pattern"),
        ("edge.acme.server", "https://acme.example/directory", "Input should be"),
        ("edge.trustedProxyCidrs", ["173.245.48.1/20"], "host bits set"),
        ("platform.secretsBackend", "sops", "'openbao' or 'vault'"),
        ("platform.observability.retentionDays", 0, "greater than or equal to 1"),
        ("platform.observability.lokiStorage", "lots", "not a Kubernetes quantity"),
        ("data.mysql.storage", "200GB ", "not a Kubernetes quantity"),
        ("data.mysql.resources.cpuRequest", "8", "cpuRequest 8 exceeds cpuLimit 4"),
        ("backup.endpoint", "http://s3.example.net", "should match pattern"),
        ("backup.region", "GRA", "should match pattern"),
        ("backup.retentionDays", 0, "greater than or equal to 1"),
        ("sites[0].phpVersion", "8.2", "'8.3' or '8.4'"),
        ("sites[0].quota.pods", 5, "greater than or equal to 10"),
        ("sites[0].image.repository", "Example/Shop", "should match pattern"),
        ("sites[0].name", "a-site-name-much-longer-than-thirty-chars", "at most 30 characters"),
    ],
)
def test_bad_value_names_its_key(path: str, value: object, fragment: str):
    raw = _prod_raw()
    _set(raw, path, value)
    with pytest.raises(ConfigError) as caught:
        validate(raw)
    messages = {p.path: p.message for p in caught.value.problems}
    # the problem names the key, one of its list items, or (for rules across an object's fields) the object
    named = [k for k in messages if k == path or k.startswith(path + "[") or path.startswith(k + ".")]
    assert len(named) == 1, messages
    assert fragment in messages[named[0]], messages[named[0]]
