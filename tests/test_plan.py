"""The offline plan: what it writes, that it is stable, that it never shows a secret, and its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest

from offline.engine import run_program
from offline.plan import plan
from offline.stackfile import ROOT, load_stack, settings_from_values
from offline.summary import summarize


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    out = {}
    for stack in ("dev", "prod"):
        folder = tmp_path_factory.mktemp(stack)
        code, summary = plan(stack, folder)
        assert code == 0
        out[stack] = (folder, summary)
    return out


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_plan_writes_one_manifest_per_kubernetes_object(planned):
    folder, summary = planned["prod"]
    manifests = list((folder / "manifests").rglob("*.yaml"))
    from tests.conftest import recording_for

    rec = recording_for("prod")
    assert len(manifests) == summary["written"]["manifests"] == len(rec.own_objects())
    assert (folder / "manifests" / "sites" / "site-shop-fr" / "resourcequota-site-quota.yaml").exists()
    assert (folder / "manifests" / "sites" / "_cluster" / "namespace-site-shop-de.yaml").exists()


def test_plan_writes_each_chart_as_the_provider_applies_it(planned):
    import yaml

    folder, summary = planned["prod"]
    from tests.conftest import recording_for

    rec = recording_for("prod")
    charts = [r for r in rec.resources if r.remote]
    assert summary["written"]["charts"] == len(charts)
    for record in charts:
        described = yaml.safe_load((folder / "charts" / record.name / "chart.yaml").read_text())
        objects = sorted(p for p in (folder / "charts" / record.name).glob("*.yaml") if p.name != "chart.yaml")
        assert described["objects"] == len(objects) == len([r for r in rec.rendered_objects() if r.rendered_by == record.urn])
    envoy = yaml.safe_load((folder / "charts" / "envoy-gateway" / "chart.yaml").read_text())
    hooks = envoy["hooks (never applied by the provider)"]
    assert hooks and all("not reviewed" not in h["what replaces it"] for h in hooks)
    assert (folder / "charts" / "envoy-gateway" / "deployment-envoy-gateway-system-envoy-gateway.yaml").exists()
    assert summary["chartObjects"] == len(rec.rendered_objects())


def test_plan_writes_every_host_script(planned):
    folder, _ = planned["prod"]
    for host in ("node-a", "node-b", "witness"):
        scripts = list((folder / "hosts" / host).glob("*.sh"))
        assert scripts, host
        assert all(s.read_text().strip() for s in scripts)


def test_plan_writes_stack_outputs_with_secrets_redacted(planned):
    import yaml

    folder, _ = planned["prod"]
    outputs = yaml.safe_load((folder / "outputs.yaml").read_text())
    assert outputs["kubeconfig"] == "<secret: redacted>"
    assert outputs["failureDomains"] == 3
    assert outputs["siteNamespaces"] == ["site-shop-fr", "site-shop-de"]


def test_plan_is_stable(planned, tmp_path: Path):
    folder, _ = planned["prod"]
    again = tmp_path / "again"
    assert plan("prod", again)[0] == 0
    assert files(again) == files(folder)


def test_plan_never_writes_a_secret(planned):
    for stack, (folder, _) in planned.items():
        settings = load_stack(stack)
        placeholders = [settings.config[k] for k in settings.secret_keys]
        for name, text in files(folder).items():
            for secret in placeholders:
                assert secret not in text, f"{stack}: {name} shows a secret"


def test_summary_counts_resources_by_layer_and_type(planned):
    _, summary = planned["prod"]
    layers = summary["layers"]
    assert summary["resources"] == sum(layer["resources"] for layer in layers.values())
    assert layers["backups"]["byType"]["aws:s3/bucket:Bucket"] == 5
    assert layers["sites"]["byType"]["kubernetes:core/v1:Namespace"] == 2
    folder, _ = planned["prod"]
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk["layers"] == layers
    assert "| sites |" in (folder / "summary.md").read_text()
    assert "offline plan" in (folder / "summary.md").read_text()


def test_summary_sums_compute_with_replicas_and_init_containers():
    class Probe(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("magento:sites:Probe", "probe")
            container = {"name": "c", "image": "docker.io/library/nginx:1.28.0",
                         "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}
            init = {**container, "name": "init", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}
            k8s.apps.v1.Deployment(
                "web",
                metadata={"name": "web", "namespace": "site-a"},
                spec={"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}},
                                   "spec": {"containers": [container, {**container, "name": "c2"}], "initContainers": [init]}}},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.register_outputs({})

    recording = run_program(settings_from_values({"environment": "dev"}, stack="probe"), program=Probe)
    compute = summarize(recording)["layers"]["sites"]["compute"]
    # per pod: requests cpu max(0.25 + 0.25, 2) = 2, memory max(512Mi, 64Mi) = 512Mi; x3 replicas
    assert compute["requests"] == {"cpu": "6", "memory": "1.5Gi"}
    assert compute["limits"] == {"cpu": "6", "memory": "6Gi"}


def test_plan_cleans_stale_files(tmp_path: Path):
    stale = tmp_path / "manifests" / "old.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: Gone\n")
    assert plan("dev", tmp_path)[0] == 0
    assert not stale.exists()


def test_plan_of_an_unknown_stack(tmp_path: Path, capsys):
    assert plan("nosuchstack", tmp_path / "x")[0] == 2
    assert "no stack file Pulumi.nosuchstack.yaml" in capsys.readouterr().err


def test_readme_documents_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make plan" in readme and "make test" in readme
    assert "pulumi preview" in readme


def test_frozen_heap_freezes_what_exists_and_unfreezes_at_the_outermost_end():
    """The plan's checks run with the recording frozen (the collector skips it); nothing stays frozen after."""
    import gc

    from offline.plan import frozen_heap

    assert gc.get_freeze_count() == 0
    survivor = [[] for _ in range(100)]
    with frozen_heap():
        outer = gc.get_freeze_count()
        assert outer >= len(survivor)
        with frozen_heap():
            assert gc.get_freeze_count() >= outer
        assert gc.get_freeze_count() >= outer  # the inner one leaves the outer's objects frozen
    assert gc.get_freeze_count() == 0
