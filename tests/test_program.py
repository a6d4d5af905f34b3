"""The composition: every layer is a component in its place, in dependency order, with the Kubernetes
provider passed down explicitly, and the provider wired from the right kubeconfig."""

from __future__ import annotations

import pytest

from hosts.layer import read_kubeconfig
from offline.engine import Recording
from program import LAYERS

LAYER_TYPES = {
    "hosts": "magento:hosts:Hosts",
    "cluster": "magento:cluster:Cluster",
    "backups": "magento:backups:Backups",
    "networking": "magento:networking:Networking",
    "storage": "magento:storage:Storage",
    "edge": "magento:edge:Edge",
    "platform": "magento:platform:PlatformServices",
    "data": "magento:data:DataServices",
    "sites": "magento:sites:Sites",
}


def layer(recording: Recording, name: str):
    found = recording.of_type(LAYER_TYPES[name])
    assert len(found) == 1, f"{name}: {len(found)} components"
    return found[0]


def test_layer_order_is_documented_order():
    assert list(LAYERS) == list(LAYER_TYPES)


def test_prod_has_every_layer_at_the_top_of_the_stack(prod: Recording):
    for name in LAYERS:
        assert layer(prod, name).parent.endswith("::pulumi:pulumi:Stack::magento-prod")


def test_dev_on_an_existing_cluster_has_no_hosts_or_backups(dev: Recording):
    assert not dev.of_type("magento:hosts:Hosts")
    assert not dev.of_type("magento:backups:Backups")
    assert not [r for r in dev.resources if r.type.startswith(("command:", "aws:"))]


KUBERNETES_LAYERS = LAYERS[LAYERS.index("networking") :]


@pytest.mark.parametrize("later", KUBERNETES_LAYERS)
def test_each_kubernetes_layer_waits_for_every_resource_of_the_layers_before(stack_recording: Recording, later: str):
    earlier = ["cluster", *KUBERNETES_LAYERS[: KUBERNETES_LAYERS.index(later)]]
    waits_for = set(layer(stack_recording, later).dependencies)
    for name in earlier:
        for resource in stack_recording.descendants(layer(stack_recording, name)):
            if resource.rendered_by is not None:
                # A chart's objects are registered by the provider, which finishes the Chart only once every
                # one of them is created (helm/v4/chart.go awaits the registered resources): waiting for the
                # Chart is waiting for them.
                assert resource.rendered_by in waits_for, f"{later} does not wait for the chart of {resource.name}"
            elif resource.custom:
                assert resource.urn in waits_for, f"{later} does not wait for {resource.type} {resource.name}"


# What the cluster waits for on the hosts side (the first control plane only, ADR 0003) is tested in
# tests/test_hosts_api.py::test_kubernetes_objects_wait_only_for_the_first_control_plane.


def test_every_kubernetes_object_uses_the_cluster_provider(stack_recording: Recording):
    provider = stack_recording.named("kubernetes", "pulumi:providers:kubernetes")
    objects = stack_recording.kubernetes_objects()
    assert objects
    for record in objects:
        assert record.provider is not None and record.provider.startswith(provider.urn + "::"), record.name


def test_kubeadm_provider_reads_the_kubeconfig_from_the_first_control_plane(prod: Recording):
    provider = prod.named("kubernetes", "pulumi:providers:kubernetes")
    read = prod.named("read-admin-kubeconfig", "command:remote:Command")
    assert provider.inputs["kubeconfig"] == read.outputs["stdout"]
    assert "kubeconfig" in provider.secret_paths
    assert read.inputs["logging"] == "none"
    # admin.conf with its server rewritten to the address the operator reaches (cluster.apiAccess.server)
    assert read.inputs["create"] == read_kubeconfig("198.51.100.11:6443")
    assert "/etc/kubernetes/admin.conf" in read.inputs["create"]
    node_a = prod.named("node-a", "magento:hosts:Host")
    assert read.parent == layer(prod, "hosts").urn
    assert {r.urn for r in prod.descendants(node_a) if r.custom} & set(read.dependencies)


def test_existing_cluster_provider_uses_the_configured_context(dev: Recording):
    provider = dev.named("kubernetes", "pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-magento"
    assert "kubeconfig" not in provider.inputs


def test_existing_cluster_provider_prefers_the_kubeconfig_secret(run):
    import yaml

    from offline.stackfile import ROOT

    values = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    values["magento:kubeconfig"] = {"secure": "v1:ciphertext"}
    recording = run(values, stack="dev")
    provider = recording.named("kubernetes", "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "offline-placeholder-kubeconfig"
    assert "kubeconfig" in provider.secret_paths
    assert "context" not in provider.inputs


def test_provider_keeps_its_identity_when_the_kubeconfig_changes(stack_recording: Recording):
    provider = stack_recording.named("kubernetes", "pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"] == "magento-cluster"
    assert provider.inputs["enableServerSideApply"] == "true"


def test_stack_outputs(prod: Recording, dev: Recording):
    assert prod.stack_outputs["failureDomains"]["value"] == 3
    assert dev.stack_outputs["failureDomains"]["value"] == 1
    assert prod.stack_outputs["siteNamespaces"]["value"] == ["site-shop-fr", "site-shop-de"]
    assert prod.stack_outputs["backupBuckets"]["value"]["velero"] == "magento-prod-velero"
    assert "kubeconfig" not in dev.stack_outputs


def test_components_have_type_tokens_of_their_layer(stack_recording: Recording):
    for record in stack_recording.resources:
        if not record.custom and record.type.startswith("magento:"):
            _, layer_name, kind = record.type.split(":")
            assert layer_name in LAYERS and kind[0].isupper(), record.type


def test_every_kubernetes_object_is_named_explicitly(stack_recording: Recording):
    for record in stack_recording.kubernetes_objects():
        assert record.inputs["metadata"].get("name"), record.urn



def test_a_resource_registered_twice_is_a_plan_problem_as_the_engine_fails_the_update():
    """The real engine stops on a second registration of a URN; the SDK's mock monitor alone keeps the last
    registration, so the recording notes it and the references check reports it."""
    import pulumi_kubernetes as k8s

    from offline.checks import reference_check
    from offline.engine import run_program
    from offline.stackfile import settings_from_values

    def program(names: tuple[str, ...]) -> None:
        for name in names:
            k8s.core.v1.ConfigMap(name, metadata={"name": name, "namespace": "default"}, data={"a": "b"})

    settings = settings_from_values({"environment": "dev"}, stack="dev")
    twice = run_program(settings, lambda: program(("twice", "twice", "other")))
    urn = "urn:pulumi:dev::magento::pulumi:pulumi:Stack$kubernetes:core/v1:ConfigMap::twice"
    assert twice.duplicate_urns == (urn,)
    assert [p for p in reference_check(twice)["problems"] if "URN" in p] == [
        f"duplicate resource URN {urn}: `pulumi up` fails on it (give one of them a unique name)"]
    once = run_program(settings, lambda: program(("once", "other")))
    assert once.duplicate_urns == () and not [p for p in reference_check(once)["problems"] if "URN" in p]


def test_the_stacks_register_every_urn_once(stack_recording: Recording):
    assert stack_recording.duplicate_urns == ()
