"""RabbitMQ under mocks: both operators from their manifests with one owner of `rabbitmq-system`, a cluster of
1 or 3 members by failure domains, and per store a quorum vhost, a user and permissions, schema-valid."""

from __future__ import annotations

import pytest

from components import versions
from components.data import rabbitmq as rmq
from offline.engine import Recording
from offline.references import SHARED_COPY
from tests.layer_helpers import schema_problems

SITES = {"dev": ("demo",), "prod": ("shop-fr", "shop-de")}


def _cluster(rec: Recording) -> dict:
    (cluster,) = [r.inputs for r in rec.own_objects() if r.inputs.get("kind") == "RabbitmqCluster"]
    return cluster


def _kind(rec: Recording, kind: str) -> list[dict]:
    return [r.inputs for r in rec.own_objects() if r.inputs.get("kind") == kind and r.inputs.get("apiVersion") == "rabbitmq.com/v1beta1"]


def test_both_operators_come_from_their_pinned_manifests(stack_recording: Recording):
    files = {r.name: r.inputs["file"] for r in stack_recording.of_type("kubernetes:yaml/v2:ConfigFile") if r.name.startswith("rabbitmq-")}
    assert files == {"rabbitmq-cluster-operator": versions.MANIFESTS["rabbitmq-cluster-operator"].url,
                     "rabbitmq-topology-operator": versions.MANIFESTS["rabbitmq-topology-operator"].url}


def test_one_manifest_owns_the_operator_namespace(stack_recording: Recording):
    copies = [r for r in stack_recording.rendered_objects()
              if r.inputs.get("kind") == "Namespace" and r.inputs["metadata"]["name"] == rmq.OPERATOR_NAMESPACE]
    assert len(copies) == 2
    owner = [r for r in copies if SHARED_COPY not in (r.inputs["metadata"].get("annotations") or {})]
    shared = [r for r in copies if SHARED_COPY in (r.inputs["metadata"].get("annotations") or {})]
    assert len(owner) == 1 and len(shared) == 1
    assert owner[0].rendered_by == stack_recording.named("rabbitmq-cluster-operator").urn
    assert not owner[0].retain_on_delete and shared[0].retain_on_delete
    for copy in copies:  # applied alike, with Pod Security labels
        assert copy.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(("stack", "members"), [("dev", 1), ("prod", 3)])
def test_cluster_members_follow_the_failure_domains(stack: str, members: int, dev: Recording, prod: Recording):
    rec = {"dev": dev, "prod": prod}[stack]
    spec = _cluster(rec)["spec"]
    assert spec["replicas"] == members
    assert spec["image"] == versions.image("rabbitmq").ref and spec["image"].split(":")[1].startswith("4.1.")
    assert "rabbitmq_prometheus" in spec["rabbitmq"]["additionalPlugins"]
    assert "default_queue_type = quorum" in spec["rabbitmq"]["additionalConfig"]
    assert spec["persistence"]["storageClassName"] == "zfs"
    pod = spec["override"]["statefulSet"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert all(c["securityContext"]["capabilities"]["drop"] == ["ALL"] for c in pod["containers"] + pod["initContainers"])
    budgets = [r for r in rec.own_objects() if r.inputs.get("kind") == "PodDisruptionBudget" and r.inputs["metadata"]["namespace"] == rmq.NAMESPACE]
    if members > 1:
        # prod: two servers with storage and a witness: the third member shares a server (preferred spread)
        assert spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        zone = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone and zone[0]["nodeTaintsPolicy"] == "Honor"
        assert len(budgets) == 1 and budgets[0].inputs["spec"]["maxUnavailable"] == 1
    else:
        assert "affinity" not in spec and not budgets
    assert "pause_minority" in spec["rabbitmq"]["additionalConfig"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_store_has_a_quorum_vhost_a_user_and_permissions_on_it_only(stack: str, dev: Recording, prod: Recording):
    rec = {"dev": dev, "prod": prod}[stack]
    vhosts = {v["spec"]["name"]: v for v in _kind(rec, "Vhost")}
    users = {u["metadata"]["name"]: u for u in _kind(rec, "User")}
    permissions = _kind(rec, "Permission")
    assert set(vhosts) == set(SITES[stack])
    for site in SITES[stack]:
        assert vhosts[site]["spec"]["defaultQueueType"] == "quorum"
        assert users[f"{site}-user"]["spec"]["importCredentialsSecret"] == {"name": f"rabbitmq-{site}-credentials"}
        (grant,) = [p for p in permissions if p["spec"]["userReference"]["name"] == f"{site}-user"]
        assert grant["spec"]["vhost"] == site
        secret = rec.named(f"rabbitmq-{site}-credentials", "kubernetes:core/v1:Secret")
        assert "stringData" in secret.secret_paths and secret.inputs["stringData"]["username"] == f"{site}-amqp"
    passwords = [rec.named(f"rabbitmq-{s}-credentials").inputs["stringData"]["password"] for s in SITES[stack]]
    assert len(set(passwords)) == len(passwords)


def test_rabbitmq_objects_are_schema_valid(stack_recording: Recording):
    records = [r for r in stack_recording.own_objects() if r.inputs.get("apiVersion") == "rabbitmq.com/v1beta1"]
    assert {r.inputs["kind"] for r in records} == {"RabbitmqCluster", "Vhost", "User", "Permission"}
    assert schema_problems(records) == []


def test_only_the_stores_reach_amqp(prod: Recording):
    policy = prod.named("rabbitmq-isolation").inputs["spec"]
    extra = policy["ingress"][-1]
    assert {p["matchLabels"]["k8s:io.kubernetes.pod.namespace"] for p in extra["fromEndpoints"]} == {"site-shop-fr", "site-shop-de"}
    assert extra["toPorts"][0]["ports"] == [{"port": "5672", "protocol": "TCP"}]
