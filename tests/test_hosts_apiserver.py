"""The API server's hardening: Secret encryption at rest (keys from pulumi-random, only ever on stdin
and in a 0600 file), the audit policy and its rotation, and the API certificate that follows its SANs
(stage 65, run in the sandbox against real openssl-made certificates)."""

from __future__ import annotations

import base64
import fnmatch
import subprocess
from pathlib import Path

import pytest
import yaml

from components.config.loader import validate
from hosts import apiserver, kubeadm
from offline.engine import Recording
from offline.plan import write_host_scripts
from tests.hosts_sandbox import Sandbox, encryption_stdin, stack_config
from tests.layer_helpers import problem_lines, stack_values
from tests.test_hosts_idempotency import bootstrap, prepare, stages_of

COMMAND = "command:remote:Command"
OPENSSL = "/usr/bin/openssl"

# Field names of the real API types, from their Go definitions:
# kubeadm v1beta4 (cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go): APIServer, Arg, HostPathMount.
API_SERVER_FIELDS = {"extraArgs", "extraVolumes", "extraEnvs", "certSANs", "timeoutForControlPlane"}
HOST_PATH_MOUNT_FIELDS = {"name", "hostPath", "mountPath", "readOnly", "pathType"}
# audit.k8s.io/v1 (staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go): Policy and PolicyRule.
POLICY_FIELDS = {"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
RULE_FIELDS = {"level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs", "omitStages", "omitManagedFields"}
LEVELS = {"None", "Metadata", "Request", "RequestResponse"}
STAGES = {"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}


def cluster_configuration(stack: str = "prod", **overrides: object) -> dict:
    config = stack_config(stack, **overrides)
    docs = yaml.safe_load_all(kubeadm.init_configuration(config.hosts[0], config.cluster))
    return next(d for d in docs if d["kind"] == "ClusterConfiguration")


# ------------------------------------------------------------------ ClusterConfiguration


def test_api_server_reads_the_encryption_config_and_audit_policy_through_read_only_mounts() -> None:
    api = cluster_configuration()["apiServer"]
    assert set(api) <= API_SERVER_FIELDS
    assert all(set(arg) == {"name", "value"} and isinstance(arg["value"], str) for arg in api["extraArgs"])
    args = {arg["name"]: arg["value"] for arg in api["extraArgs"]}
    assert args["encryption-provider-config"] == "/etc/kubernetes/magento/apiserver/encryption-config.yaml"
    assert args["audit-policy-file"] == "/etc/kubernetes/magento/apiserver/audit-policy.yaml"
    assert args["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert (args["audit-log-maxage"], args["audit-log-maxbackup"], args["audit-log-maxsize"]) == ("30", "10", "100")
    assert args["profiling"] == "false"
    for volume in api["extraVolumes"]:
        assert set(volume) <= HOST_PATH_MOUNT_FIELDS and volume["hostPath"] == volume["mountPath"]
    mounts = {v["mountPath"]: v for v in api["extraVolumes"]}
    # Every file the flags name is inside a mount; the configuration read-only, the log writable.
    for flag in ("encryption-provider-config", "audit-policy-file", "audit-log-path"):
        directory = str(Path(args[flag]).parent)
        assert directory in mounts, flag
    assert mounts[apiserver.APISERVER_DIR]["readOnly"] is True
    assert mounts[apiserver.AUDIT_DIR]["readOnly"] is False and mounts[apiserver.AUDIT_DIR]["pathType"] == "DirectoryOrCreate"


def test_audit_rotation_follows_the_configuration() -> None:
    api = cluster_configuration(auditLog={"maxAgeDays": 7, "maxBackups": 5, "maxSizeMib": 200})["apiServer"]
    args = {arg["name"]: arg["value"] for arg in api["extraArgs"]}
    assert (args["audit-log-maxage"], args["audit-log-maxbackup"], args["audit-log-maxsize"]) == ("7", "5", "200")


def test_audit_log_that_could_fill_the_root_disk_is_rejected() -> None:
    raw = stack_values("prod")
    raw["cluster"]["auditLog"] = {"maxBackups": 50, "maxSizeMib": 500}
    assert problem_lines(raw) == [
        "cluster.auditLog: keeps up to 25500 MiB of audit log on each control plane's root disk ((maxBackups + 1) x maxSizeMib); "
        "at most 8192 MiB is allowed (docs/hosts.md, 'Audit log')"
    ]
    raw["cluster"]["auditLog"] = {"maxBackups": 20, "maxSizeMib": 200}
    assert validate(raw).cluster.audit_log.max_size_mib == 200  # 4200 MiB: accepted


# ------------------------------------------------------------------ EncryptionConfiguration


def test_encryption_configuration_first_key_encrypts_identity_reads_old_data() -> None:
    config = stack_config("prod", secretsEncryption={"keys": ["key2", "key1"]})
    doc = yaml.safe_load(apiserver.encryption_configuration_template(config.cluster))
    assert (doc["apiVersion"], doc["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
    [entry] = doc["resources"]
    assert entry["resources"] == ["secrets"]
    assert entry["providers"] == [
        {"secretbox": {"keys": [{"name": "key2", "secret": "@@KEY_key2@@"}, {"name": "key1", "secret": "@@KEY_key1@@"}]}},
        {"identity": {}},
    ]


@pytest.mark.parametrize(
    "setting,message",
    [
        ({"keys": ["key1", "key1"]}, "key names must be unique"),
        ({"keys": []}, "at least 1 item"),
        ({"keys": ["Key_1"]}, "is not a key name"),
        ({"provider": "aesgcm"}, "'secretbox' or 'aescbc'"),
    ],
)
def test_bad_encryption_settings_are_rejected(setting: dict, message: str) -> None:
    raw = stack_values("prod")
    raw["cluster"]["secretsEncryption"] = setting
    assert any(message in line for line in problem_lines(raw)), problem_lines(raw)


def run_45(sandbox: Sandbox, config, host: str = "node-a", stdin: str | None = None):
    stage = next(s for s in stages_of(config, host) if s.key == "45-apiserver-files")
    return sandbox.run(stage, stdin=encryption_stdin(config) if stdin is None else stdin)


def test_stage_45_writes_the_keys_0600_and_never_prints_them(tmp_path: Path) -> None:
    config = stack_config("prod", secretsEncryption={"keys": ["key2", "key1"]})
    sandbox = Sandbox(tmp_path)
    stdin = encryption_stdin(config)
    assert not stdin.endswith("\n")  # as pulumi-command delivers it: the last key has no newline
    result = run_45(sandbox, config)
    assert result.returncode == 0, result.stderr
    text, mode = sandbox.tree()["etc/kubernetes/magento/apiserver/encryption-config.yaml"]
    assert mode == 0o600 and sandbox.tree()["etc/kubernetes/magento/apiserver/audit-policy.yaml"][1] == 0o600
    doc = yaml.safe_load(text)
    keys = doc["resources"][0]["providers"][0]["secretbox"]["keys"]
    sent = dict(line.split("=", 1) for line in stdin.splitlines())
    assert [k["name"] for k in keys] == ["key2", "key1"] and {k["name"]: k["secret"] for k in keys} == sent
    assert all(len(base64.b64decode(k["secret"])) == 32 for k in keys)
    for value in sent.values():
        assert value not in result.stdout + result.stderr
    assert (sandbox.root / "var/log/kubernetes/audit").is_dir()


@pytest.mark.parametrize(
    "stdin,message",
    [
        ("key2=" + base64.b64encode(b"x" * 32).decode(), "encryption key key1 is missing on stdin"),
        ("key2=" + base64.b64encode(b"x" * 32).decode() + "\nkey1=c2hvcnQ=", "encryption key key1 is not 32 base64-encoded bytes"),
    ],
)
def test_stage_45_refuses_missing_or_short_keys(tmp_path: Path, stdin: str, message: str) -> None:
    config = stack_config("prod", secretsEncryption={"keys": ["key2", "key1"]})
    sandbox = Sandbox(tmp_path)
    result = run_45(sandbox, config, stdin=stdin)
    assert result.returncode == 1 and message in result.stderr
    assert not (sandbox.root / "etc/kubernetes/magento/apiserver/encryption-config.yaml").exists()


def test_a_new_key_restarts_a_running_api_server_once(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    assert run_45(sandbox, config).returncode == 0
    manifest = sandbox.root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("    - --encryption-provider-config=/etc/kubernetes/magento/apiserver/encryption-config.yaml\n")
    sandbox.reset_calls()
    assert run_45(sandbox, config).returncode == 0
    assert sandbox.changes() == []  # same keys: nothing restarted
    rotated = stack_config("prod", secretsEncryption={"keys": ["key2", "key1"]})
    result = run_45(sandbox, rotated)
    assert result.returncode == 0, result.stderr
    assert sandbox.changes() == ["crictl stop apiserver0000"] and "kube-apiserver restarted and healthy" in result.stderr
    sandbox.reset_calls()
    assert run_45(sandbox, rotated).returncode == 0 and sandbox.changes() == []


def test_an_api_server_without_the_flag_is_not_restarted_for_nothing(tmp_path: Path) -> None:
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    manifest = sandbox.root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("kube-apiserver static pod\n")
    result = run_45(sandbox, config)
    assert result.returncode == 0 and sandbox.changes() == []
    assert "set up without --encryption-provider-config" in result.stderr


# ------------------------------------------------------------------ the audit policy


def matches(rule: dict, user: str, groups: list[str], verb: str, group: str | None, resource: str | None, url: str | None) -> bool:
    """PolicyRule matching as the API server does it (k8s.io/apiserver/pkg/audit/policy/checker.go)."""
    if rule.get("users") and user not in rule["users"]:
        return False
    if rule.get("userGroups") and not set(groups) & set(rule["userGroups"]):
        return False
    if rule.get("verbs") and verb not in rule["verbs"]:
        return False
    if resource is not None:
        if rule.get("nonResourceURLs"):
            return False
        if rule.get("resources"):
            return any(r.get("group", "") == group and (not r.get("resources") or resource in r["resources"]) for r in rule["resources"])
        return True
    if rule.get("resources"):
        return False
    return not rule.get("nonResourceURLs") or any(fnmatch.fnmatch(url or "", pattern) for pattern in rule["nonResourceURLs"])


def level(user: str, verb: str, group: str | None = "", resource: str | None = None, url: str | None = None, groups: list[str] | None = None) -> str:
    for rule in apiserver.audit_policy()["rules"]:
        if matches(rule, user, groups or ["system:authenticated"], verb, group, resource, url):
            return rule["level"]
    return "None"


def test_audit_policy_uses_only_real_fields() -> None:
    policy = apiserver.audit_policy()
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy") and set(policy) <= POLICY_FIELDS
    assert policy["omitStages"] == ["RequestReceived"]
    for rule in policy["rules"]:
        assert set(rule) <= RULE_FIELDS and rule["level"] in LEVELS
        assert set(rule.get("omitStages", [])) <= STAGES
        for res in rule.get("resources", []):
            assert set(res) <= {"group", "resources", "resourceNames"}
    assert policy["rules"][-1] == {"level": "Metadata"}  # nothing falls through unlogged


@pytest.mark.parametrize("verb", ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"])
@pytest.mark.parametrize("user", ["alice", "system:serviceaccount:kube-system:generic-garbage-collector"])
def test_secret_payloads_never_reach_the_audit_log(verb: str, user: str) -> None:
    for group, resource in (("", "secrets"), ("", "configmaps"), ("authentication.k8s.io", "tokenreviews"), ("", "serviceaccounts/token")):
        assert level(user, verb, group, resource) == "Metadata", (verb, resource)


def test_audit_levels_of_typical_requests() -> None:
    assert level("system:kube-proxy", "watch", "", "endpoints") == "None"
    assert level("system:node:node-a", "watch", "", "pods", groups=["system:nodes", "system:authenticated"]) == "None"
    assert level("system:node:node-a", "get", "", "secrets", groups=["system:nodes", "system:authenticated"]) == "None"
    assert level("system:node:node-a", "update", "coordination.k8s.io", "leases", groups=["system:nodes"]) == "None"
    assert level("alice", "create", "", "events") == "None"
    assert level("alice", "get", None, None, url="/readyz") == "None"
    assert level("alice", "create", "rbac.authorization.k8s.io", "clusterrolebindings") == "RequestResponse"
    assert level("alice", "get", "rbac.authorization.k8s.io", "roles") == "Metadata"
    assert level("alice", "patch", "apps", "deployments") == "Request"
    assert level("alice", "list", "apps", "deployments") == "Metadata"
    assert level("alice", "create", "", "pods/exec") == "Request"
    assert level("system:node:node-a", "create", "", "pods", groups=["system:nodes"]) == "Request"  # nodes' writes stay logged


# ------------------------------------------------------------------ the plan: keys are secrets, never shown


def test_encryption_keys_are_secret_inputs_and_absent_from_the_plan(prod: Recording, tmp_path: Path) -> None:
    keys = [r for r in prod.resources if r.type == "random:index/randomBytes:RandomBytes"]
    assert sorted(r.name for r in keys) == ["apiserver-encryption-key1"] and keys[0].inputs["length"] == 32
    secret = keys[0].outputs["base64"]
    assert len(base64.b64decode(secret)) == 32
    for host in ("node-a", "node-b", "witness"):
        stage = prod.named(f"{host}-45-apiserver-files", COMMAND)
        assert stage.inputs["stdin"] == f"key1={secret}" and stage.is_secret("stdin")
        assert stage.inputs["logging"] == "none" and stage.inputs["addPreviousOutputInEnv"] is False
    write_host_scripts(prod, tmp_path)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("encryption-config.template.yaml") for p in written)
    assert not [p for p in written if secret in p.read_text()]


def test_api_server_restarts_go_one_control_plane_at_a_time(prod: Recording) -> None:
    def deps(name: str) -> set[str]:
        return {prod.by_urn[urn].name for urn in prod.named(name, COMMAND).dependencies}

    assert "node-a-65-apiserver-cert" in deps("node-b-45-apiserver-files")
    assert "node-b-65-apiserver-cert" in deps("witness-45-apiserver-files")
    assert "node-a-45-apiserver-files" in deps("node-a-50-kubeadm-init")
    assert "node-b-60-kubeadm-join" in deps("node-b-65-apiserver-cert")


# ------------------------------------------------------------------ stage 65: the certificate follows the SANs


def cert_sans(path: Path) -> list[str]:
    out = subprocess.run([OPENSSL, "x509", "-noout", "-ext", "subjectAltName", "-in", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(name.strip() for name in out.splitlines()[1].split(","))


def real_ca(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
                    "-subj", "/CN=kubernetes", "-days", "3650"], capture_output=True, check=True)


def old_cert(pki: Path, sans: list[str]) -> None:
    """An apiserver certificate as kubeadm made it at init, with the SANs of that time, signed by the CA."""
    csr = subprocess.run([OPENSSL, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / "apiserver.key"), "-subj", "/CN=kube-apiserver"],
                         capture_output=True, check=True).stdout
    ext = pki.parent / "old-ext.cnf"
    ext.write_text("subjectAltName=" + ",".join(s.replace("IP Address:", "IP:") for s in sans) + "\n")
    subprocess.run([OPENSSL, "x509", "-req", "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "365",
                    "-extfile", str(ext), "-out", str(pki / "apiserver.crt")], input=csr, capture_output=True, check=True)
    ext.unlink()


@pytest.fixture
def running_node_a(tmp_path: Path) -> Sandbox:
    """node-a bootstrapped with prod's settings; a real CA and an old certificate with prod's SANs."""
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-a")
    bootstrap(sandbox, stages_of(config, "node-a"))
    pki = sandbox.root / "etc/kubernetes/pki"
    real_ca(pki)
    old_cert(pki, kubeadm.apiserver_sans(config.hosts[0], config.hosts[0], config.cluster))
    sandbox.reset_calls()
    return sandbox


def stage_65(config, host: str = "node-a"):
    return next(s for s in stages_of(config, host) if s.key == "65-apiserver-cert")


def test_unchanged_sans_regenerate_and_restart_nothing(running_node_a: Sandbox) -> None:
    sandbox = running_node_a
    before = (sandbox.root / "etc/kubernetes/pki/apiserver.crt").read_bytes()
    result = sandbox.run(stage_65(stack_config("prod")))
    assert result.returncode == 0, result.stderr
    assert sandbox.changes() == []
    assert (sandbox.root / "etc/kubernetes/pki/apiserver.crt").read_bytes() == before


def test_a_new_access_address_regenerates_the_certificate_and_restarts_the_api_server(running_node_a: Sandbox) -> None:
    sandbox = running_node_a
    pki = sandbox.root / "etc/kubernetes/pki"
    old = cert_sans(pki / "apiserver.crt")
    assert "IP Address:203.0.113.50" not in old
    changed = stack_config("prod", apiAccess={"server": "203.0.113.50:6443"})
    stage = stage_65(changed)
    assert stage.digest() != stage_65(stack_config("prod")).digest()  # the command runs again on `up`
    result = sandbox.run(stage)
    assert result.returncode == 0, result.stderr
    new = cert_sans(pki / "apiserver.crt")
    assert new == kubeadm.apiserver_sans(changed.hosts[0], changed.hosts[0], changed.cluster)
    assert set(new) - set(old) == {"IP Address:203.0.113.50"} and set(old) <= set(new)  # node-a's public address stays
    # Signed by the cluster CA, with a new key; the old pair kept aside.
    subprocess.run([OPENSSL, "verify", "-CAfile", str(pki / "ca.crt"), str(pki / "apiserver.crt")], check=True, capture_output=True)
    [aside] = (sandbox.root / "etc/kubernetes/magento/pki-aside").iterdir()
    assert cert_sans(aside / "apiserver.crt") == old and (aside / "apiserver.key").exists()
    assert [c for c in sandbox.changes() if c.startswith(("kubeadm", "crictl"))] == [
        "kubeadm init phase certs apiserver --config " + str(sandbox.root / "etc/kubernetes/magento/kubeadm-certs.yaml"),
        "crictl stop apiserver0000",
    ]
    assert "missing [IP Address:203.0.113.50], extra []" in result.stderr
    sandbox.reset_calls()
    assert sandbox.run(stage).returncode == 0 and sandbox.changes() == []


def test_a_failed_regeneration_puts_the_old_certificate_back(running_node_a: Sandbox) -> None:
    sandbox = running_node_a
    pki = sandbox.root / "etc/kubernetes/pki"
    before = (pki / "apiserver.crt").read_bytes(), (pki / "apiserver.key").read_bytes()
    sandbox.state_file("fail-certs", "")
    result = sandbox.run(stage_65(stack_config("prod", apiAccess={"server": "203.0.113.50:6443"})))
    assert result.returncode == 1 and "nothing was restarted" in result.stderr
    assert ((pki / "apiserver.crt").read_bytes(), (pki / "apiserver.key").read_bytes()) == before
    assert not [c for c in sandbox.changes() if c.startswith("crictl stop")]


def test_a_joined_control_plane_gets_its_own_names(tmp_path: Path) -> None:
    """node-b's certificate (made by its join from the stored ClusterConfiguration) already matches:
    its stage 65 changes nothing; with a new VIP-side name it is regenerated with node-b's own names."""
    config = stack_config("prod")
    sandbox = Sandbox(tmp_path)
    prepare(sandbox, config, "node-b")
    bootstrap(sandbox, stages_of(config, "node-b"))
    pki = sandbox.root / "etc/kubernetes/pki"
    assert cert_sans(pki / "apiserver.crt") == kubeadm.apiserver_sans(config.hosts[1], config.hosts[0], config.cluster)
    assert "DNS:node-b" in cert_sans(pki / "apiserver.crt") and "IP Address:10.10.0.12" in cert_sans(pki / "apiserver.crt")
    sandbox.reset_calls()
    changed = stack_config("prod", apiAccess={"server": "203.0.113.50:6443"})
    assert sandbox.run(stage_65(changed, "node-b")).returncode == 0
    assert "IP Address:203.0.113.50" in cert_sans(pki / "apiserver.crt") and "DNS:node-b" in cert_sans(pki / "apiserver.crt")


def test_stage_65_runs_again_only_when_the_sans_change() -> None:
    prod = stage_65(stack_config("prod"))
    upgrade = stage_65(stack_config("prod", kubernetesVersion="1.37.1", upgradeFrom="1.36.4"))
    assert upgrade.digest() == prod.digest()
    assert upgrade.files["KUBEADM_CONFIG"] != prod.files["KUBEADM_CONFIG"]  # copied current all the same
    assert stage_65(stack_config("prod", podCidr="10.200.0.0/16")).digest() == prod.digest()


def test_a_moved_vip_drops_the_old_name_from_the_certificate(running_node_a: Sandbox) -> None:
    sandbox = running_node_a
    pki = sandbox.root / "etc/kubernetes/pki"
    moved = stack_config("prod", apiVip={"address": "10.10.0.20"}, controlPlaneEndpoint="10.10.0.20:6443")
    result = sandbox.run(stage_65(moved))
    assert result.returncode == 0, result.stderr
    sans = cert_sans(pki / "apiserver.crt")
    assert "IP Address:10.10.0.20" in sans and "IP Address:10.10.0.10" not in sans
    assert "missing [IP Address:10.10.0.20], extra [IP Address:10.10.0.10]" in result.stderr
    assert sandbox.changes()[-1] == "crictl stop apiserver0000"
