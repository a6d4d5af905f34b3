"""The observability component under mocks: charts, versions, namespaces, sizes, retention, replicas by
failure domains, object storage, receivers, secrets, and what the charts render (images, security, PDBs)."""

from __future__ import annotations

import json

import pytest
import yaml

from components import versions
from components.platform.observability.common import NAMESPACE, NODE_EXPORTER_NAMESPACE
from components.platform.observability.loki import loki_values
from components.platform.observability.storage import ObjectStore
from components.platform.observability.tempo import tempo_values
from offline import render
from offline.references import pod_template
from tests.layer_helpers import chart, comes_after, kind, problems, rendered, stack_values

CHARTS = {"kube-prometheus-stack": "kube-prometheus-stack", "loki": "loki", "tempo": "tempo", "grafana": "grafana",
          "alloy": "alloy", "monitoring-crds": "kube-prometheus-stack"}


def observability_objects(rec):
    return [r for r in rec.resources if r.is_kubernetes_object
            and any(a.type == "magento:platform:Observability" for a in rec.ancestors(r))]


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_at_its_pin_in_its_namespace(stack_recording, name):
    record = chart(stack_recording, name)
    pin = versions.chart(CHARTS[name])
    assert (record.inputs["chart"], record.inputs["version"]) == (pin.chart, pin.version)
    assert record.inputs["namespace"] == NAMESPACE
    result = stack_recording.renders[record.urn]
    assert result.error is None and result.objects


def test_crds_come_first_and_only_once(prod):
    crds = rendered(prod, "monitoring-crds")
    assert {r.inputs["kind"] for r in crds} == {"CustomResourceDefinition"}
    assert {r.inputs["metadata"]["name"] for r in crds} >= {"servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com",
                                                             "prometheusrules.monitoring.coreos.com"}
    assert prod.layer_of(chart(prod, "monitoring-crds")) == "cluster"
    assert chart(prod, "kube-prometheus-stack").inputs["skipCrds"] is True
    assert not rendered(prod, "kube-prometheus-stack", "CustomResourceDefinition")
    networking = prod.of_type("magento:networking:Networking")[0]
    assert chart(prod, "monitoring-crds").urn in {d for d in networking.dependencies} or comes_after(
        prod, chart(prod, "cilium"), chart(prod, "monitoring-crds"))


def test_prometheus_sizing_retention_and_replicas(prod, dev):
    spec = chart(prod, "kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["retentionSize"] == "91GB"  # 85% of 100Gi
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "zfs"
    assert spec["replicas"] == 2 and chart(dev, "kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]["replicas"] == 1
    (prometheus,) = rendered(prod, "kube-prometheus-stack", "Prometheus")
    assert prometheus.inputs["spec"]["replicas"] == 2
    assert prometheus.inputs["spec"]["retention"] == "30d"
    # Every ServiceMonitor, PodMonitor and rule in the cluster, not only the chart's.
    assert prometheus.inputs["spec"]["serviceMonitorSelector"] == {} and prometheus.inputs["spec"]["ruleSelector"] == {}
    assert prometheus.inputs["spec"]["serviceMonitorNamespaceSelector"] == {}
    pdbs = {p.inputs["metadata"]["name"] for p in rendered(prod, "kube-prometheus-stack", "PodDisruptionBudget")}
    assert {"kps-prometheus", "kps-alertmanager"} <= pdbs
    assert not rendered(dev, "kube-prometheus-stack", "PodDisruptionBudget")


def test_alertmanager_reads_the_programs_secret(prod):
    (am,) = rendered(prod, "kube-prometheus-stack", "Alertmanager")
    secret = prod.named("alertmanager-config", "kubernetes:core/v1:Secret")
    assert am.inputs["metadata"]["name"] == "kps-alertmanager"
    assert secret.inputs["metadata"]["name"] == f"alertmanager-{am.inputs['metadata']['name']}"
    assert secret.inputs["metadata"]["namespace"] == am.inputs["metadata"]["namespace"] == NAMESPACE
    assert not [s for s in rendered(prod, "kube-prometheus-stack", "Secret") if s.inputs["metadata"]["name"].startswith("alertmanager-")]
    config = yaml.safe_load(secret.inputs["stringData"]["alertmanager.yaml"])
    assert [r["name"] for r in config["receivers"]] == ["null", "platform-team", "provider-alerting"]
    assert comes_after(prod, chart(prod, "kube-prometheus-stack"), secret)


def test_operator_webhook_certificate_from_cert_manager_not_a_hook(prod):
    result = prod.renders[chart(prod, "kube-prometheus-stack").urn]
    assert not result.hooks
    certificates = {c.inputs["spec"]["secretName"] for c in rendered(prod, "kube-prometheus-stack", "Certificate")}
    (deployment,) = [d for d in rendered(prod, "kube-prometheus-stack", "Deployment") if d.inputs["metadata"]["name"] == "kps-operator"]
    mounted = {v["secret"]["secretName"] for v in pod_template(deployment.inputs)["spec"]["volumes"] if "secret" in v}
    assert mounted and mounted <= certificates


def test_loki_retention_storage_and_single_binary(prod, dev):
    for rec, store in ((prod, "s3"), (dev, "filesystem")):
        values = chart(rec, "loki").inputs["values"]
        assert values["deploymentMode"] == "Monolithic" and values["singleBinary"]["replicas"] == 1
        assert values["loki"]["storage"]["type"] == store
    values = chart(prod, "loki").inputs["values"]
    assert values["loki"]["limits_config"]["retention_period"] == "720h"
    assert values["loki"]["compactor"]["retention_enabled"] is True
    assert values["singleBinary"]["persistence"]["size"] == "50Gi"
    (statefulset,) = rendered(prod, "loki", "StatefulSet")
    assert statefulset.inputs["spec"]["replicas"] == 1
    assert {o.inputs["kind"] for o in rendered(prod, "loki")} >= {"StatefulSet", "Service", "ConfigMap"}
    assert not rendered(prod, "loki", "DaemonSet")  # no canary


def _render(chart_key: str, values: dict) -> list[dict]:
    pin = versions.chart(chart_key)
    inputs = {"chart": pin.chart, "version": pin.version, "repositoryOpts": {"repo": pin.repo}, "namespace": NAMESPACE, "values": values}
    request = render.chart_request(inputs, chart_key, "1.36.4", [])
    return render.helm_template(request)


def test_loki_and_tempo_with_the_telemetry_bucket_keep_keys_out_of_their_configuration():
    """Rendered by Helm with a bucket: S3 endpoint, bucket and path-style addressing in the configuration, the
    keys only as ${AWS_*} expanded from the credentials Secret at start."""
    from components.config import validate

    settings = validate(stack_values("prod"))
    store = ObjectStore("magento-prod-telemetry", "https://s3.gra.io.cloud.ovh.net", "gra", "prod")
    loki = _render("loki", loki_values(settings, store))
    (loki_config,) = [o for o in loki if o["kind"] == "ConfigMap" and "config.yaml" in (o.get("data") or {})]
    text = loki_config["data"]["config.yaml"]
    parsed = yaml.safe_load(text)
    s3 = parsed["common"]["storage"]["s3"]
    assert s3["bucketnames"] == "magento-prod-telemetry" and s3["s3forcepathstyle"] is True
    assert s3["access_key_id"] == "${AWS_ACCESS_KEY_ID}" and s3["secret_access_key"] == "${AWS_SECRET_ACCESS_KEY}"
    (loki_sts,) = [o for o in loki if o["kind"] == "StatefulSet"]
    container = loki_sts["spec"]["template"]["spec"]["containers"][0]
    assert "-config.expand-env=true" in container["args"]
    assert container["envFrom"] == [{"secretRef": {"name": "telemetry-bucket"}}]

    tempo = _render("tempo", tempo_values(settings, store))
    (tempo_config,) = [o for o in tempo if o["kind"] == "ConfigMap"]
    trace = yaml.safe_load(tempo_config["data"]["tempo.yaml"])["storage"]["trace"]
    assert trace["backend"] == "s3"
    assert trace["s3"] == {"bucket": "magento-prod-telemetry", "endpoint": "s3.gra.io.cloud.ovh.net", "region": "gra",
                           "prefix": "prod/tempo", "forcepathstyle": True, "access_key": "${AWS_ACCESS_KEY_ID}",
                           "secret_key": "${AWS_SECRET_ACCESS_KEY}"}
    assert yaml.safe_load(tempo_config["data"]["tempo.yaml"])["compactor"]["compaction"]["block_retention"] == "168h"


def test_tempo_and_grafana_sizes(prod):
    tempo = chart(prod, "tempo").inputs["values"]
    assert tempo["persistence"]["size"] == "20Gi" and tempo["tempo"]["retention"] == "168h"
    grafana = chart(prod, "grafana").inputs["values"]
    assert grafana["persistence"]["size"] == "2Gi" and grafana["replicas"] == 1


def test_grafana_renders_no_random_secret(prod):
    assert not rendered(prod, "grafana", "Secret")
    admin = prod.named("grafana-admin", "kubernetes:core/v1:Secret")
    password = prod.named("grafana-admin-password", "random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] == 32
    assert admin.is_secret("stringData")
    assert chart(prod, "grafana").inputs["values"]["admin"]["existingSecret"] == admin.inputs["metadata"]["name"]


def test_alloy_tails_pods_and_forwards_traces_without_host_access(prod):
    (daemonset,) = rendered(prod, "alloy", "DaemonSet")
    spec = pod_template(daemonset.inputs)["spec"]
    assert not spec.get("hostNetwork") and not any("hostPath" in v for v in spec.get("volumes") or [])
    (container,) = spec["containers"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/ready"
    (configmap,) = rendered(prod, "alloy", "ConfigMap")
    content = configmap.inputs["data"]["config.alloy"]
    assert 'loki.source.kubernetes "pods"' in content and "http://loki.monitoring.svc:3100/loki/api/v1/push" in content
    assert 'otelcol.exporter.otlp "tempo"' in content and "tempo.monitoring.svc:4317" in content


def test_node_exporter_alone_in_the_privileged_namespace(prod):
    namespaces = {n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"] for n in kind(prod, "Namespace")}
    assert namespaces[NAMESPACE]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces[NODE_EXPORTER_NAMESPACE]["pod-security.kubernetes.io/enforce"] == "privileged"
    in_node_ns = [r for r in prod.rendered_objects() if r.inputs["metadata"].get("namespace") == NODE_EXPORTER_NAMESPACE
                  and pod_template(r.inputs) is not None]
    assert [r.inputs["metadata"]["name"] for r in in_node_ns] == ["kube-prometheus-stack-prometheus-node-exporter"]


def _workloads(rec):
    return [r for r in observability_objects(rec) + [o for n in CHARTS for o in rendered(rec, n)] if pod_template(r.inputs)]


def test_every_workload_sized_probed_pinned_and_non_root(stack_recording):
    workloads = _workloads(stack_recording)
    assert len(workloads) >= 6
    for record in workloads:
        spec = pod_template(record.inputs)["spec"]
        for container in spec["containers"]:
            where = f"{record.name}/{container['name']}"
            resources = container.get("resources") or {}
            assert set(resources.get("requests") or {}) >= {"cpu", "memory"}, where
            assert set(resources.get("limits") or {}) >= {"cpu", "memory"}, where
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where
            assert "bitnami" not in image, where
            if record.inputs["metadata"].get("namespace") != NODE_EXPORTER_NAMESPACE:
                pod_sc, sc = spec.get("securityContext") or {}, container.get("securityContext") or {}
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True or (sc.get("runAsUser") or pod_sc.get("runAsUser") or 0) > 0, where


def test_operator_managed_workloads_are_sized(prod):
    (prometheus,) = rendered(prod, "kube-prometheus-stack", "Prometheus")
    (am,) = rendered(prod, "kube-prometheus-stack", "Alertmanager")
    for record in (prometheus, am):
        assert record.inputs["spec"]["resources"]["limits"]["memory"], record.name
        assert record.inputs["spec"]["securityContext"]["runAsNonRoot"] is True
        assert record.inputs["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"


def test_no_bitnami_image_anywhere(stack_recording):
    text = json.dumps([r.inputs for r in stack_recording.rendered_objects()])
    assert "bitnami" not in text.lower()


def test_every_observability_object_is_schema_valid(stack_recording):
    crds = [r for r in rendered(stack_recording, "monitoring-crds")]
    objects = observability_objects(stack_recording) + [o for n in CHARTS for o in rendered(stack_recording, n)]
    from offline.schemas import validate_objects

    found, _ = validate_objects([r.inputs for r in objects], crds=[c.inputs for c in crds])
    assert [str(p) for p in found] == []


def test_two_renders_are_identical():
    from offline.engine import run_program
    from offline.stackfile import load_stack

    first, second = run_program(load_stack("prod")), run_program(load_stack("prod"))
    def snapshot(rec):
        return json.dumps(sorted((r.urn, r.inputs) for r in observability_objects(rec) + [o for n in CHARTS for o in rendered(rec, n)]),
                          sort_keys=True, default=str)
    assert snapshot(first) == snapshot(second)


# ------------------------------------------------------------------------------------------ configuration


def test_a_route_to_an_unknown_receiver_is_rejected():
    values = stack_values("prod")
    values["platform"]["observability"]["alerting"]["defaultReceiver"] = "nobody"
    found = problems(values)
    assert "defaultReceiver: 'nobody' is not one of the receivers (platform-team, provider-alerting)" in found["platform.observability.alerting"]


def test_a_receiver_needs_exactly_one_channel():
    values = stack_values("prod")
    values["platform"]["observability"]["alerting"]["receivers"][0]["webhook"] = {"url": "https://x.example.com/"}
    assert "set exactly one of email or webhook" in problems(values)["platform.observability.alerting.receivers[0]"]


@pytest.mark.parametrize(("key", "value", "path"), [
    ("retentionDays", 0, "platform.observability.retentionDays"),
    ("prometheusStorage", "lots", "platform.observability.prometheusStorage"),
    ("logRetentionDays", "a week", "platform.observability.logRetentionDays"),
])
def test_bad_observability_settings_name_their_key(key, value, path):
    values = stack_values("prod")
    values["platform"]["observability"][key] = value
    assert path in problems(values)


def test_bad_email_and_webhook_name_their_key():
    values = stack_values("prod")
    receivers = values["platform"]["observability"]["alerting"]["receivers"]
    receivers[0]["email"]["to"] = ["not-an-address"]
    receivers[1]["webhook"]["url"] = "http://plain.example.com"
    found = problems(values)
    assert "'not-an-address' is not an e-mail address" in found["platform.observability.alerting.receivers[0].email.to"]
    assert "platform.observability.alerting.receivers[1].webhook.url" in found


def test_prod_logs_and_traces_go_to_the_telemetry_bucket_with_a_secret(prod):
    secret = prod.named("telemetry-bucket-credentials", "kubernetes:core/v1:Secret")
    assert secret.is_secret("stringData") and set(secret.inputs["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    loki = chart(prod, "loki").inputs["values"]
    assert loki["loki"]["storage"]["bucketNames"] == {"chunks": "magento-prod-telemetry", "ruler": "magento-prod-telemetry"}
    assert loki["singleBinary"]["extraEnvFrom"] == [{"secretRef": {"name": secret.inputs["metadata"]["name"]}}]
    tempo = chart(prod, "tempo").inputs["values"]["tempo"]["storage"]["trace"]
    assert tempo["backend"] == "s3" and tempo["s3"]["bucket"] == "magento-prod-telemetry" and tempo["s3"]["prefix"] == "prod/tempo"
    for name in ("loki", "tempo"):
        assert comes_after(prod, chart(prod, name), secret)
    assert "AKIA" not in json.dumps(loki) and "offline-placeholder" not in json.dumps([loki, tempo])


def test_retention_longer_than_the_bucket_lifecycle_is_rejected():
    values = stack_values("prod")
    values["platform"]["observability"]["logRetentionDays"] = 90
    assert "longer than backup.telemetryRetentionDays (31)" in problems(values)["platform.observability.logRetentionDays"]


# ------------------------------------------------------------------------------------------ control plane


def test_prod_renders_control_plane_service_monitors_and_services(prod):
    """etcd, kube-controller-manager and kube-scheduler: a Service selecting the static pods in kube-system and a
    ServiceMonitor scraping it (etcd plain HTTP on 2381; the other two HTTPS with the token, self-signed)."""
    from components.platform.observability import exporters

    monitors = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in rendered(prod, "kube-prometheus-stack", "ServiceMonitor")}
    services = {r.inputs["metadata"]["name"]: r.inputs for r in rendered(prod, "kube-prometheus-stack", "Service")}
    expected = {"kps-kube-etcd": ("etcd", 2381, None), "kps-kube-controller-manager": ("kube-controller-manager", 10257, "https"),
                "kps-kube-scheduler": ("kube-scheduler", 10259, "https")}
    for name, (component, port, scheme) in expected.items():
        service = services[name]
        assert service["metadata"]["namespace"] == "kube-system"
        assert service["spec"]["selector"] == {"component": component}  # kubeadm's static pod label
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [("http-metrics", port, port)]
        (endpoint,) = monitors[name]["endpoints"]
        assert monitors[name]["namespaceSelector"] == {"matchNames": ["kube-system"]}
        assert endpoint["port"] == "http-metrics" and endpoint.get("scheme") == scheme
        if scheme == "https":
            assert endpoint["tlsConfig"]["insecureSkipVerify"] is True
            assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
        assert monitors[name]["selector"]["matchLabels"] == {k: v for k, v in service["metadata"]["labels"].items() if k in ("app", "release")}
    # the exporter table names the ServiceMonitor the chart renders
    assert exporters.EXPORTERS["etcd"].scraped_by == ("ServiceMonitor", "kps-kube-etcd")
