"""The offline policy check: the whole program per stack, the report, enforcement levels, the pack's shape."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.config.model import Platform
from offline import policy_check
from offline.engine import Recorded, Recording, run_program
from offline.policy_check import check_recording, print_failures, stack_policy_config, write_report
from offline.stackfile import ROOT, load_stack
from policy.magento_policies import PACK_LEVEL, PACK_NAME, POLICIES, defaults
from program import main as program_main
from tests.policy_support import compliant_container, deployment, evaluate, of_policy

PACK = ROOT / "policy"


def test_every_stack_passes_with_zero_mandatory_violations(stack_recording):
    report = check_recording(stack_recording)
    assert report.mandatory == [], "\n".join(map(str, report.mandatory))
    assert report.policies == {p.name: "mandatory" for p in POLICIES}
    assert report.resources == len(stack_recording.resources)


def test_prod_host_connections_reach_the_pack_as_secrets_and_still_pass(prod):
    commands = prod.of_type("command:remote:Command")
    assert commands and all(c.is_secret("connection") for c in commands)
    assert of_policy(check_recording(prod), "remote-command-ssh") == []


# ------------------------------------------------------------------------------------------ done when


def _prod_with(extra) -> policy_check.PolicyReport:
    def program():
        program_main()
        extra()

    return check_recording(run_program(load_stack("prod"), program=program))


def _failure_lines(report) -> str:
    stream = io.StringIO()
    print_failures(report, stream)
    return stream.getvalue()


def test_adding_a_privileged_container_fails_with_the_policy_and_the_resource():
    report = _prod_with(
        lambda: deployment("debug", "site-shop-fr", container=compliant_container(securityContext={"privileged": True}))
    )
    assert not report.passed
    assert [(v.policy, v.resource_name) for v in report.mandatory] == [("workload-no-host-access", "site-shop-fr-debug")]
    assert "policy violation: workload-no-host-access: kubernetes:apps/v1:Deployment site-shop-fr-debug: " in _failure_lines(
        report
    )


def test_adding_an_unpinned_image_fails_with_the_policy_and_the_resource():
    report = _prod_with(lambda: deployment("tool", "site-shop-de", container=compliant_container(image="nginx")))
    assert [(v.policy, v.resource_name) for v in report.mandatory] == [("workload-image-pinned", "site-shop-de-tool")]
    assert "image 'nginx' has no tag" in _failure_lines(report)


def test_adding_a_public_bucket_fails_with_the_policy_and_the_resource():
    report = _prod_with(lambda: aws.s3.Bucket("exports", bucket="magento-prod-exports", acl="public-read"))
    assert {(v.policy, v.resource_name) for v in report.mandatory} == {("bucket-protected", "exports")}
    lines = _failure_lines(report)
    assert (
        "policy violation: bucket-protected: aws:s3/bucket:Bucket exports: bucket magento-prod-exports: has a public canned ACL"
        in lines
    )
    assert "does not block public access" in lines


def test_policy_check_command_writes_the_report_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    assert policy_check.main(["--stack", "prod", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "policy.json").read_text())
    assert document["passed"] is True and document["mandatory"] == 0
    assert json.loads((tmp_path / "policy-config.json").read_text()) == stack_policy_config(load_stack_recording("prod"))

    original = policy_check.check_recording
    monkeypatch.setattr(policy_check, "check_recording", lambda rec: original(_with_privileged(rec)))
    assert policy_check.main(["--stack", "prod", "--out", str(tmp_path)]) == 1
    assert "policy violation: workload-no-host-access" in capsys.readouterr().err
    assert "**FAILED**" in (tmp_path / "policy.md").read_text()


def load_stack_recording(stack: str) -> Recording:
    return run_program(load_stack(stack))


def _with_privileged(recording: Recording) -> Recording:
    extra = run_program(
        recording.settings, program=lambda: deployment(container=compliant_container(securityContext={"privileged": True}))
    )
    return Recording(recording.settings, recording.resources + extra.resources, recording.stack_outputs)


# ------------------------------------------------------------------------------------------ levels and config


def test_configured_enforcement_levels_are_resolved_like_the_cli():
    program = lambda: deployment(container=compliant_container(livenessProbe=None))  # noqa: E731
    assert [v.level for v in of_policy(evaluate(program), "workload-probes")] == ["mandatory"]
    advisory = evaluate(program, config={"workload-probes": {"enforcementLevel": "advisory"}})
    assert [v.level for v in of_policy(advisory, "workload-probes")] == ["advisory"] and advisory.passed
    assert advisory.policies["workload-probes"] == "advisory"
    everything = evaluate(program, config={"all": "advisory"})
    assert set(everything.policies.values()) == {"advisory"} and everything.passed
    disabled = evaluate(program, config={"workload-probes": "disabled"})
    assert of_policy(disabled, "workload-probes") == [] and disabled.policies["workload-probes"] == "disabled"


def test_stack_configuration_feeds_the_pack(dev, prod):
    assert stack_policy_config(prod) == {
        "workload-image-registry": {"allowedRegistries": Platform().allowed_registries},
        "remote-command-ssh": {"requireHostKey": True},
    }
    assert stack_policy_config(dev)["remote-command-ssh"] == {"requireHostKey": False}
    settings = load_stack("prod")
    config = dict(settings.config)
    config["magento:platform"] = json.dumps({"allowedRegistries": ["harbor.example.com"]})
    custom = Recording(dataclasses.replace(settings, config=config), [], {})
    assert stack_policy_config(custom)["workload-image-registry"] == {"allowedRegistries": ["harbor.example.com"]}


def test_pack_default_registries_match_the_configuration_default():
    assert Platform().allowed_registries == defaults.ALLOWED_REGISTRIES


def test_unknown_values_during_preview_do_not_fail_the_run():
    settings = load_stack("prod")
    unknown_image = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "site-x"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [compliant_container(image=UNKNOWN_STRING_VALUE)]},
            },
        },
    }
    record = Recorded(
        "kubernetes:apps/v1:Deployment",
        "web",
        "urn:pulumi:prod::magento::kubernetes:apps/v1:Deployment::web",
        True,
        unknown_image,
        frozenset(),
        None,
        None,
        (),
    )
    report = check_recording(Recording(settings, [record], {}))
    assert report.mandatory == []


# ------------------------------------------------------------------------------------------ the pack itself


def test_pack_files_and_pins():
    manifest = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python" and manifest["version"]
    pins = lambda path: {l.split("==")[0]: l for l in path.read_text().splitlines() if "==" in l}  # noqa: E731, E741
    root, pack = pins(ROOT / "requirements.txt"), pins(PACK / "requirements.txt")
    assert pack["pulumi-policy"] == root["pulumi-policy"] == "pulumi-policy==1.21.0"
    assert pack["pulumi"] == root["pulumi"]


def test_main_only_builds_the_policy_pack():
    tree = ast.parse((PACK / "__main__.py").read_text())
    statements = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    calls = [s for s in statements if not isinstance(s, ast.Import | ast.ImportFrom)]
    assert len(calls) == 1 and isinstance(calls[0].value, ast.Call) and calls[0].value.func.id == "PolicyPack"


def test_pack_imports_the_way_the_cli_runs_it():
    # `pulumi preview --policy-pack policy` runs policy/__main__.py with policy/ first on sys.path.
    code = "import sys; sys.path.insert(0, 'policy'); import magento_policies as m; print(len(m.POLICIES), m.PACK_NAME)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(len(POLICIES)), PACK_NAME]


def test_every_policy_is_described_mandatory_and_has_remediation():
    assert len({p.name for p in POLICIES}) == len(POLICIES)
    for policy in POLICIES:
        assert policy.description.endswith(".") and len(policy.description) > 40
        assert (policy.enforcement_level or PACK_LEVEL) == EnforcementLevel.MANDATORY
        assert policy.remediation_steps


def test_analyzer_info_serialises_every_config_schema_and_defaults_are_valid():
    info = _PolicyAnalyzerServicer(
        name=PACK_NAME, version="1.0.0", policies=POLICIES, enforcement_level=PACK_LEVEL
    ).GetAnalyzerInfo(None, None)
    assert [p.name for p in info.policies] == [p.name for p in POLICIES]
    for policy in POLICIES:
        if policy.config_schema is None:
            continue
        schema = {"type": "object", "properties": policy.config_schema.properties}
        values = {k: v["default"] for k, v in policy.config_schema.properties.items() if "default" in v}
        jsonschema.validate(values, schema)


def test_an_exception_without_a_reason_is_rejected_by_the_config_schema():
    policy = next(p for p in POLICIES if p.name == "workload-no-host-access")
    schema = {"type": "object", "properties": policy.config_schema.properties}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"exceptions": [{"namespace": "site-x", "name": "web"}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"systemNamespaces": {"tools": "ok"}}, schema)


def test_report_formats(tmp_path: Path):
    report = evaluate(
        lambda: k8s.core.v1.Service(
            "lb", metadata={"name": "lb", "namespace": "site-x"}, spec={"type": "LoadBalancer", "ports": [{"port": 80}]}
        )
    )
    data = report.to_dict()
    assert data["passed"] is False and data["mandatory"] == 1
    assert data["violations"][0]["policy"] == "loadbalancer-only-at-edge" and data["violations"][0]["resource_name"] == "lb"
    markdown = report.to_markdown()
    assert "| `loadbalancer-only-at-edge` | mandatory | 1 |" in markdown
    assert "| `loadbalancer-only-at-edge` | mandatory | `kubernetes:core/v1:Service` lb |" in markdown
    write_report(report, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"policy.md", "policy.json", "policy-config.json"}


def test_make_plan_fails_on_a_mandatory_violation_naming_policy_and_resource(tmp_path, monkeypatch, capsys):
    from offline import plan as plan_module

    code, summary = plan_module.plan("prod", tmp_path / "clean")
    assert code == 0 and summary["policy"] == {"policies": len(POLICIES), "passed": True, "mandatory": 0, "violations": 0}
    assert (tmp_path / "clean" / "policy.md").exists() and (tmp_path / "clean" / "policy-config.json").exists()

    real = plan_module.run_program
    monkeypatch.setattr(plan_module, "run_program", lambda settings: _with_privileged(real(settings)))
    code, summary = plan_module.plan("prod", tmp_path / "bad")
    assert code == 1 and summary["policy"]["mandatory"] == 1
    err = capsys.readouterr().err
    assert "policy violation: workload-no-host-access: kubernetes:apps/v1:Deployment site-demo-web" in err


def test_pack_serves_every_policy_over_grpc_as_the_cli_starts_it():
    """`pulumi preview --policy-pack policy` runs `python -m pulumi.policy <engine> policy` and talks gRPC to it."""
    import grpc
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    server = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", "policy"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
        assert info.name == PACK_NAME and [p.name for p in info.policies] == [p.name for p in POLICIES]
        pod = struct_pb2.Struct()
        pod.update(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "site-x"},
                "spec": {"containers": [compliant_container(securityContext={"privileged": True})]},
            }
        )
        request = analyzer_pb2.AnalyzeRequest(
            type="kubernetes:core/v1:Pod", properties=pod, name="p", urn="urn:pulumi:prod::magento::kubernetes:core/v1:Pod::p"
        )
        response = stub.Analyze(request, timeout=20)
        assert [d.policyName for d in response.diagnostics] == ["workload-no-host-access"]
        assert response.diagnostics[0].enforcementLevel == analyzer_pb2.MANDATORY
    finally:
        server.kill()
        server.wait()
