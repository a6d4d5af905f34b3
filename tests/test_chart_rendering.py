"""Charts and manifests as the Kubernetes provider applies them (issue 8).

Every chart the program registers is rendered with Helm from the chart cache, hooks left out, and its
objects are checked like the program's own. These tests pin down what that means: the provider's naming
and normalisation, the hooks and what replaces them, values keys the chart does not have, pins the cache
holds, transforms applied to chart objects, Pod Security labels on every Namespace, a preview run with
unknowns, and renders that do not change between runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from components import k8s as kube
from components import versions
from offline import chart_cache, render
from offline.checks import chart_check, run_checks
from offline.engine import Recording, run_program
from offline.helm import HelmError
from offline.plan import plan
from offline.references import check_references, pod_template
from offline.stackfile import ROOT, load_stack
from tests.conftest import STACKS, recording_for
from tests.layer_helpers import chart, kind, rendered


def charts_of(rec: Recording):
    return [r for r in rec.resources if r.type in render.RENDERED_TYPES and r.remote]


# ------------------------------------------------------------------------------------------ as the provider


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_renders_objects_from_the_cache(stack):
    rec = recording_for(stack)
    assert charts_of(rec)
    for record in charts_of(rec):
        result = rec.renders[record.urn]
        assert result.error is None and result.incomplete is None, record.name
        assert result.objects, f"{record.name} renders nothing"
        children = [r for r in rec.rendered_objects() if r.rendered_by == record.urn]
        assert len(children) == len(result.objects)


def test_children_are_named_and_typed_as_the_provider_registers_them(prod):
    (deployment,) = rendered(prod, "metrics-server", "Deployment")
    assert deployment.name == "metrics-server:kube-system/metrics-server"
    assert deployment.type == "kubernetes:apps/v1:Deployment"
    assert deployment.urn.endswith("$kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment::metrics-server:kube-system/metrics-server")
    assert deployment.parent == chart(prod, "metrics-server").urn
    (role,) = [r for r in rendered(prod, "metrics-server", "ClusterRole") if r.inputs["metadata"]["name"] == "system:metrics-server"]
    assert role.name == "metrics-server:system:metrics-server"  # cluster-scoped: no namespace in the name
    assert role.type == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
    (service,) = rendered(prod, "metrics-server", "Service")
    assert service.type == "kubernetes:core/v1:Service"  # the core group, canonicalised


def test_namespaced_objects_without_a_namespace_get_the_charts():
    scopes = render.Scopes()
    objects, unresolved = render.normalize(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "b"}},
         {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "c"}}],
        "tools", scopes,
    )
    assert objects[0]["metadata"]["namespace"] == "tools"
    assert "namespace" not in objects[1]["metadata"]
    assert "namespace" not in objects[2]["metadata"] and unresolved == ["example.com/v1/Widget"]


def test_lists_are_expanded_and_empty_documents_skipped():
    text = "---\n\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    assert [o["metadata"]["name"] for o in render.parse_documents(text)] == ["a"]


def test_secret_payloads_are_secret_and_keep_becomes_retain_on_delete(prod):
    from offline.engine import RecordingMocks, RecordingMonitor, _children

    parent = chart(prod, "metrics-server")
    result = render.Rendered(parent.urn, "metrics-server", "metrics-server 3.13.1 (chart)", "kube-system", objects=[
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "kube-system"}, "data": {"k": "dg=="}},
    ])
    (secret,) = _children({r.urn: r for r in prod.resources}, result, parent, RecordingMonitor(RecordingMocks()))
    assert secret.is_secret("data") and secret.name == "metrics-server:kube-system/s"
    crds = rendered(prod, "cert-manager", "CustomResourceDefinition")
    assert crds and all(r.retain_on_delete for r in crds)  # crds.keep: removing the chart leaves the certificates
    assert not any(r.retain_on_delete for r in rendered(prod, "cert-manager", "Deployment"))


def test_hooks_are_left_out_and_each_is_accounted_for(prod):
    result = prod.renders[chart(prod, "envoy-gateway").urn]
    hooks = {f"{h.kind}/{h.name}" for h in result.hooks}
    assert "Job/envoy-gateway-gateway-helm-certgen" in hooks
    names = {(r.inputs["kind"], r.inputs["metadata"]["name"]) for r in rendered(prod, "envoy-gateway")}
    assert ("Job", "envoy-gateway-gateway-helm-certgen") not in names
    startup = prod.renders[chart(prod, "cert-manager").urn].hooks
    assert any(h.name == "cert-manager-startupapicheck" for h in startup)
    assert chart_check(prod)["problems"] == []


def test_an_unreviewed_hook_fails_the_chart_check(prod, monkeypatch):
    from offline import chart_hooks

    monkeypatch.setitem(chart_hooks.HOOKS, "gateway-helm", {})
    problems = chart_check(prod)["problems"]
    assert any("hook Job/envoy-gateway-gateway-helm-certgen (pre-install, pre-upgrade) is never applied" in p for p in problems)


# ------------------------------------------------------------------------------------------ Envoy Gateway


def test_envoy_gateway_mounts_only_secrets_something_the_engine_applies_creates(prod):
    (deployment,) = rendered(prod, "envoy-gateway", "Deployment")
    mounted = {v["secret"]["secretName"] for v in pod_template(deployment.inputs)["spec"]["volumes"] if "secret" in v}
    assert mounted == {"envoy-gateway"}
    certificates = {c.inputs["spec"]["secretName"]: c for c in kind(prod, "Certificate")}
    assert {"envoy-gateway", "envoy", "envoy-rate-limit"} <= set(certificates)
    for name in ("envoy-gateway", "envoy", "envoy-rate-limit"):
        # cert-manager custom resources are awaited only when annotated: the chart waits for Ready.
        assert certificates[name].inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        assert certificates[name].urn in chart(prod, "envoy-gateway").dependencies
    assert [s.inputs["metadata"]["name"] for s in kind(prod, "Secret") if s.inputs["metadata"]["namespace"] == "envoy-gateway-system"] == [
        "envoy-oidc-hmac"
    ]


def test_without_the_certificates_the_envoy_gateway_secret_dangles(prod):
    objects = [r.inputs for r in prod.kubernetes_objects()
               if not (r.inputs["kind"] == "Certificate" and r.inputs["metadata"]["name"] == "envoy-gateway")]
    problems = [str(p) for p in check_references(objects)]
    assert any("envoy-gateway-system/envoy-gateway: uses Secret envoy-gateway-system/envoy-gateway" in p for p in problems)


def test_webhooks_are_awaited_before_the_resources_they_validate(prod):
    waits = {r.inputs["metadata"]["name"]: r.inputs["metadata"].get("annotations", {}).get("pulumi.com/waitFor")
             for r in prod.rendered_objects() if r.inputs["kind"].endswith("WebhookConfiguration")}
    assert waits["cert-manager-webhook"] == waits["metallb-webhook-configuration"] == "jsonpath={.webhooks[0].clientConfig.caBundle}"
    issuer = kind(prod, "ClusterIssuer")[0]
    assert chart(prod, "cert-manager").urn in issuer.dependencies
    for pool in kind(prod, "IPAddressPool"):
        assert chart(prod, "metallb").urn in pool.dependencies


# ------------------------------------------------------------------------------------------ values, pins


def _one_chart(values: dict) -> Recording:
    return run_program(load_stack("dev"), program=lambda: kube.chart(
        "metrics-server", "metrics-server", namespace="kube-system", values=values, opts=pulumi.ResourceOptions()
    ))


def test_a_misspelled_values_key_fails_the_chart_check():
    problems = chart_check(_one_chart({"replica": 2, "podDisruptionBudget": {"enabeld": True}}))["problems"]
    assert problems == [
        "Chart metrics-server: values key podDisruptionBudget.enabeld does not exist in metrics-server 3.13.1 (values.yaml or values.schema.json)",
        "Chart metrics-server: values key replica does not exist in metrics-server 3.13.1 (values.yaml or values.schema.json)",
    ]
    # Below a map the chart leaves empty (annotations, resources) anything goes.
    assert chart_check(_one_chart({"podAnnotations": {"a": "b"}, "resources": {"limits": {"cpu": "1"}}}))["problems"] == []


def test_a_misspelled_values_key_fails_the_plan(tmp_path, monkeypatch, capsys):
    from components.networking import layer as networking_layer
    from components.networking import metrics_server

    original = metrics_server.metrics_server_values
    monkeypatch.setattr(networking_layer, "metrics_server_values", lambda *a: {**original(*a), "replica": 3})
    code, _ = plan("dev", tmp_path / "out", ROOT)
    assert code == 1
    assert "values key replica does not exist in metrics-server 3.13.1" in capsys.readouterr().err


def test_unpinned_untrusted_or_bitnami_charts_fail_the_chart_check():
    import pulumi_kubernetes as k8s

    def program():
        k8s.helm.v4.Chart("thing", name="thing", chart="thing", version="^1.2.0", namespace="tools",
                          repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo="http://charts.example.com"),
                          values={"redis": {"image": {"repository": "bitnami/redis"}}})
        k8s.helm.v4.Chart("redis", chart="oci://registry-1.docker.io/bitnamicharts/redis", version="1.2.3", namespace="tools")

    problems = "\n".join(chart_check(run_program(load_stack("dev"), program=program))["problems"])
    assert "Chart thing: version '^1.2.0' is not an exact version" in problems
    assert "Chart thing: repository 'http://charts.example.com' is not https:// or oci://" in problems
    assert "Chart thing: values.redis.image.repository = 'bitnami/redis' refers to Bitnami" in problems
    assert "Chart redis: chart 'oci://registry-1.docker.io/bitnamicharts/redis' is Bitnami" in problems
    assert "Chart thing: is not a pin of components/versions.py CHARTS" in problems
    assert "Chart thing: cannot be rendered as the provider would" in problems


def test_every_pin_is_a_version_the_chart_cache_holds():
    cache = chart_cache.cache_dir()
    for key, pin in versions.CHARTS.items():
        path = chart_cache.chart_file(pin)
        assert path.is_file(), f"{key}: {pin.chart} {pin.version} is not in {cache}"
        source = json.loads(path.with_name(f"{pin.chart}-{pin.version}.source.json").read_text())
        assert (source["version"], source["appVersion"]) == (pin.version, pin.app_version), key
        repo = source.get("upstream_repository", "")
        assert repo == (f"{pin.repo}/{pin.chart}" if pin.repo.startswith("oci://") else pin.repo).rstrip("/") or \
            repo.rstrip("/") == pin.repo.rstrip("/"), f"{key}: pinned from {pin.repo}, the cache's copy came from {repo}"
    for key, manifest in versions.MANIFESTS.items():
        path = chart_cache.manifest_file(manifest)
        assert path.is_file(), f"{key}: {path.name} is not in {cache}"
        source = json.loads(path.with_name(f"{manifest.name}-{manifest.version}.source.json").read_text())
        assert source["upstream_release_asset"] == manifest.url, key


def test_every_image_pin_says_where_its_tag_was_seen_and_is_used():
    """Image pins carry their evidence (issue 8), and a pin nothing reads is not kept in the table."""
    root = Path(__file__).resolve().parents[1]
    sources = "\n".join(
        path.read_text() for pattern in ("components/**/*.py", "sites/**/*.py", "docker/Dockerfile*")
        for path in root.glob(pattern) if path.name != "versions.py"
    )
    for key, pin in versions.IMAGES.items():
        assert pin.seen.strip(), f"image pin {key} ({pin.ref}) says nowhere where its tag was seen"
        assert ":" not in pin.tag.split("@")[0] and pin.tag != "latest", key
        assert f'image("{key}")' in sources or pin.ref in sources, f"image pin {key} is read by nothing"


def test_a_chart_missing_from_the_cache_names_itself_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGENTO_CHART_CACHE", str(tmp_path))

    def offline(args, **_):
        raise HelmError("helm pull failed: dial tcp: lookup helm.cilium.io: no such host")

    monkeypatch.setattr(chart_cache, "run_helm", offline)
    with pytest.raises(chart_cache.ChartUnavailableError) as error:
        chart_cache.ensure_chart(versions.CHARTS["cilium"])
    assert "chart cilium 1.20.0 is not in the chart cache" in str(error.value)
    assert f"helm pull cilium --repo https://helm.cilium.io --version 1.20.0 -d {tmp_path}" in str(error.value)


# ------------------------------------------------------------------------------------------ what the checks see


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_chart_rendered_ones_included_has_pod_security_labels(stack):
    namespaces = [r for r in recording_for(stack).kubernetes_objects() if r.inputs["kind"] == "Namespace"]
    assert any(r.rendered_by for r in namespaces)  # cilium-secrets
    for record in namespaces:
        labels = record.inputs["metadata"].get("labels") or {}
        for mode in ("enforce", "audit", "warn"):
            assert labels.get(f"pod-security.kubernetes.io/{mode}") in ("restricted", "baseline", "privileged"), record.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_container_has_requests_and_limits(stack):
    for record in recording_for(stack).rendered_objects():
        template = pod_template(record.inputs)
        if template is None:
            continue
        spec = template.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            resources = container.get("resources") or {}
            for which in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(which) or {}), f"{record.name} {container['name']} {which}"


def test_transforms_change_chart_objects_as_the_engine_would(prod):
    # zfs-localpv 2.6.2 reads no resources value: the storage layer sets them with a transform.
    (controller,) = rendered(prod, "zfs-localpv", "Deployment")
    containers = {c["name"]: c["resources"] for c in pod_template(controller.inputs)["spec"]["containers"]}
    assert containers["openebs-zfs-plugin"]["limits"]["memory"] == "512Mi"
    assert containers["csi-provisioner"]["limits"]["memory"] == "128Mi"
    # The engine gets the same functions: they ride on the Chart's resource options.
    assert prod.renders[chart(prod, "zfs-localpv").urn].objects


@pytest.mark.parametrize("stack", STACKS)
def test_chart_objects_go_through_every_check_and_the_policy_pack(stack):
    rec = recording_for(stack)
    results = run_checks(rec)
    assert results["schema"]["checked"] >= len(rec.kubernetes_objects())
    assert all(not result["problems"] for result in results.values()), results


def test_the_analyzer_sees_charts_without_inputs_and_their_objects_one_by_one(prod):
    from offline.policy_check import _analyzed_inputs

    assert _analyzed_inputs(chart(prod, "cilium")) == {}
    (agent,) = [r for r in rendered(prod, "cilium", "DaemonSet") if r.inputs["metadata"]["name"] == "cilium"]
    assert _analyzed_inputs(agent)["spec"]["template"]["spec"]["hostNetwork"] is True


# ------------------------------------------------------------------------------------------ preview, determinism


@pytest.mark.parametrize("stack", STACKS)
def test_a_preview_with_unknowns_registers_the_same_resources(stack):
    full = recording_for(stack)
    preview = run_program(load_stack(stack), preview=True)
    assert preview.preview
    assert {r.urn for r in preview.resources} == {r.urn for r in full.resources}
    assert any(render.unknown_path(r.inputs) for r in preview.resources)  # generated values are unknown at preview
    # No chart takes a value that is unknown at preview (it would render nothing: "Preview is incomplete").
    assert [r.incomplete for r in preview.renders.values() if r.incomplete] == []


def test_a_chart_with_an_unknown_value_renders_nothing_at_preview():
    import pulumi_random as random

    def program():
        password = random.RandomPassword("p", length=16)
        kube.chart("metrics-server", "metrics-server", namespace="kube-system",
                   values={"podAnnotations": {"x": password.result}}, opts=pulumi.ResourceOptions())

    rec = run_program(load_stack("dev"), program=program, preview=True)
    (result,) = rec.renders.values()
    assert result.objects == [] and "values.podAnnotations.x is unknown at preview" in result.incomplete
    assert "Preview is incomplete" not in (chart_check(rec)["note"] or "") and "unknown at preview" in chart_check(rec)["note"]


def test_renders_are_identical_from_a_cold_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "CACHE", tmp_path / "a")
    monkeypatch.setattr(render, "_MEMORY", {})
    first = run_program(load_stack("prod"))
    monkeypatch.setattr(render, "CACHE", tmp_path / "b")
    monkeypatch.setattr(render, "_MEMORY", {})
    second = run_program(load_stack("prod"))
    assert [(r.urn, r.inputs) for r in first.rendered_objects()] == [(r.urn, r.inputs) for r in second.rendered_objects()]
