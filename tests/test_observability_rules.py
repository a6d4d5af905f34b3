"""Alert rules, Alertmanager's configuration and the dashboards, checked with the real tools.

`promtool check rules` reads the very rule files the program deploys and the rules the chart renders;
`promtool test rules` runs the platform's rules against synthetic series; `amtool check-config` reads the
Alertmanager configuration exactly as the program registers it, and `amtool config routes test` shows where
an alert goes. Every query of a rule or a dashboard names only metrics of an exporter the program deploys
(components/platform/observability/exporters.py), and every panel a data source Grafana is given.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.platform.observability import dashboards, exporters, rules
from components.platform.observability.alertmanager import alertmanager_config, render
from components.platform.observability.grafana import DASHBOARDS_CONFIGMAP, datasources
from tests.conftest import FIXTURES
from tests.layer_helpers import chart, rendered

TIMEOUT = 60


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian package {'prometheus' if name == 'promtool' else 'prometheus-alertmanager'}; "
                    "see the apt line in .ci/run)")
    return path


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)


# ------------------------------------------------------------------------------------------ promtool


def test_every_platform_rule_file_passes_promtool():
    files = sorted(rules.RULES_DIR.glob("*.yaml"))
    assert len(files) >= 10
    result = run([tool("promtool"), "check", "rules", *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_the_charts_default_rules_pass_promtool(prod, tmp_path):
    groups = [g for r in rendered(prod, "kube-prometheus-stack", "PrometheusRule") for g in r.inputs["spec"]["groups"]]
    assert len(groups) > 20
    path = tmp_path / "kube-prometheus-stack.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_registered_prometheus_rules_are_the_files(prod):
    registered = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in prod.resources
                  if r.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule" and r.rendered_by is None}
    assert registered == {f"platform-{stem}": {"groups": content["groups"]} for stem, content in rules.rule_files().items()}


def test_rules_fire_on_synthetic_series(tmp_path):
    """promtool's unit tests: a degraded pool, a stale Velero schedule, a poor Varnish hit ratio, saturated
    PHP-FPM, an unsynced or flow-controlled Galera member and a red OpenSearch cluster (once, not per node) each fire with the labels and text expected; healthy ones do not."""
    for path in rules.RULES_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(FIXTURES / "observability" / "rules_test.yaml", tmp_path / "rules_test.yaml")
    result = run([tool("promtool"), "test", "rules", "rules_test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_rule_fails_promtool(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "Bad", "expr": "sum(rate(x[5m])"}]}]}))
    assert run([tool("promtool"), "check", "rules", str(path)]).returncode != 0


# ------------------------------------------------------------------------------------------ amtool


def registered_alertmanager_config(rec) -> str:
    return rec.named("alertmanager-config", "kubernetes:core/v1:Secret").inputs["stringData"]["alertmanager.yaml"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_registered_alertmanager_config_passes_amtool(stack, tmp_path, request):
    rec = request.getfixturevalue(stack)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(registered_alertmanager_config(rec))
    result = run([tool("amtool"), "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def routes(path: Path, *labels: str) -> list[str]:
    result = run([tool("amtool"), "config", "routes", "test", f"--config.file={path}", *labels])
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(result.stdout.strip().split(","))


def test_prod_routes_critical_alerts_to_both_receivers_and_the_rest_by_email(prod, tmp_path):
    path = tmp_path / "alertmanager.yaml"
    path.write_text(registered_alertmanager_config(prod))
    assert routes(path, "alertname=ZfsPoolNotOnline", "severity=critical") == ["platform-team", "provider-alerting"]
    assert routes(path, "alertname=VarnishHitRatioLow", "severity=warning") == ["platform-team"]
    assert routes(path, "alertname=Watchdog", "severity=none") == ["null"]


def test_dev_without_receivers_sends_nothing(dev, tmp_path):
    path = tmp_path / "alertmanager.yaml"
    path.write_text(registered_alertmanager_config(dev))
    assert routes(path, "alertname=ZfsPoolNotOnline", "severity=critical") == ["null"]


def test_a_route_to_an_unknown_receiver_fails_amtool(tmp_path):
    from components.config.platform import Alerting

    config = alertmanager_config(Alerting())
    config["route"]["routes"][0]["receiver"] = "nobody"
    path = tmp_path / "alertmanager.yaml"
    path.write_text(render(config))
    assert run([tool("amtool"), "check-config", str(path)]).returncode != 0


def test_secrets_reach_only_the_secret(prod):
    text = registered_alertmanager_config(prod)
    assert "offline-placeholder-alertmanagerSmtpPassword" in text
    assert "offline-placeholder-alertmanagerWebhookToken" in text
    assert prod.named("alertmanager-config", "kubernetes:core/v1:Secret").is_secret("stringData")
    values = json.dumps(chart(prod, "kube-prometheus-stack").inputs["values"])
    assert "offline-placeholder" not in values


# ------------------------------------------------------------------------------------------ queries

FUNCTIONS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "time", "by", "without",
    "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "max_over_time", "min_over_time",
    "avg_over_time", "abs", "clamp_min", "offset", "topk", "bottomk", "absent", "vector", "scalar", "label_replace",
    "humanize", "humanizePercentage", "humanizeDuration", "le", "inf", "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, label matchers, ranges and grouping removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()", text):
        word = match.group(1)
        if word.lower() not in FUNCTIONS and not re.fullmatch(r"\d+[smhdwy]?", word):
            names.add(word)
    return names


def test_metric_extraction():
    assert metric_names('sum by (instance) (rate(node_zfs_arc_hits{x="a b"}[5m])) / node_load15 > 0.8') == {
        "node_zfs_arc_hits", "node_load15"}
    assert metric_names("time() - velero_backup_last_successful_timestamp{schedule!=\"\"} > 26 * 3600") == {
        "velero_backup_last_successful_timestamp"}


def rule_queries() -> dict[str, str]:
    return {f"{stem}/{rule['alert']}": rule["expr"] for stem, content in rules.rule_files().items()
            for group in content["groups"] for rule in group["rules"]}


def dashboard_models(rec) -> dict[str, dict]:
    configmap = rec.named("grafana-dashboards", "kubernetes:core/v1:ConfigMap")
    assert configmap.inputs["metadata"]["name"] == DASHBOARDS_CONFIGMAP
    return {name: json.loads(text) for name, text in configmap.inputs["data"].items()}


def dashboard_queries(rec) -> dict[str, str]:
    return {f"{name}/{panel['title']}": target["expr"] for name, model in dashboard_models(rec).items()
            for panel in model["panels"] for target in panel["targets"] if target["datasource"]["uid"] == "prometheus"}


def test_every_queried_metric_has_an_exporter(prod):
    unknown = {f"{where}: {metric}" for where, expr in {**rule_queries(), **dashboard_queries(prod)}.items()
               for metric in metric_names(expr) if exporters.owner_of(metric) is None}
    assert unknown == set()


def _deployed(rec, exporter: exporters.Exporter) -> bool:
    import fnmatch

    what, pattern = exporter.scraped_by
    objects = [r.inputs for r in rec.resources if r.is_kubernetes_object]
    if what == "image":
        images = {c.get("image", "") for o in objects for c in _containers(o)}
        return any(fnmatch.fnmatchcase(image, pattern + ("*" if not pattern.endswith("*") else "")) for image in images)
    return any(o.get("kind") == what and fnmatch.fnmatchcase(o["metadata"].get("name", ""), pattern) for o in objects)


def _containers(obj: dict) -> list[dict]:
    from offline.references import pod_template

    spec = (pod_template(obj) or {}).get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def test_every_exporter_is_deployed_or_awaited_by_its_named_owner(prod):
    missing = {name for name, exporter in exporters.EXPORTERS.items() if not _deployed(prod, exporter)}
    assert missing == set(exporters.AWAITING), (
        "exporters.AWAITING must list exactly the exporters not deployed yet: "
        f"deployed now {sorted(set(exporters.AWAITING) - missing)}, missing but not awaited {sorted(missing - set(exporters.AWAITING))}"
    )


def test_the_table_lists_only_metrics_a_rule_or_a_dashboard_uses(prod):
    used = {m for expr in {**rule_queries(), **dashboard_queries(prod)}.values() for m in metric_names(expr)}
    listed = {m for exporter in exporters.EXPORTERS.values() for m in exporter.metrics}
    assert listed - used == set()


def test_queue_depth_per_queue_is_scraped(prod):
    """rabbitmq_detailed_queue_* exist only on /metrics/detailed with the queue families: the data layer's
    ServiceMonitor asks for them."""
    monitors = [r.inputs for r in prod.resources if r.is_kubernetes_object and r.inputs.get("kind") == "ServiceMonitor"]
    endpoints = [e for m in monitors for e in m["spec"]["endpoints"] if e.get("path") == "/metrics/detailed"]
    assert endpoints and {"queue_coarse_metrics", "queue_consumer_count"} <= set(endpoints[0]["params"]["family"])


# ------------------------------------------------------------------------------------------ dashboards


def test_every_dashboard_is_valid_grafana_json_with_existing_data_sources(prod):
    models = dashboard_models(prod)
    assert set(models) == {f"{name}.json" for name in dashboards.specs()}
    uids = {source["uid"] for source in datasources()}
    provisioned = chart(prod, "grafana").inputs["values"]["datasources"]["datasources.yaml"]["datasources"]
    assert {s["uid"] for s in provisioned} == uids == {"prometheus", "loki", "tempo", "alertmanager"}
    seen_uids = set()
    for name, model in models.items():
        assert model["uid"] not in seen_uids, name
        seen_uids.add(model["uid"])
        assert model["schemaVersion"] >= 36 and model["title"] and model["panels"], name
        for panel in model["panels"]:
            assert panel["datasource"]["uid"] in uids, f"{name}: {panel['title']}"
            assert panel["targets"] and all(t["datasource"]["uid"] in uids and t["expr"] for t in panel["targets"])
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids)), name


def test_dashboards_cover_every_area_of_the_issue(prod):
    text = json.dumps(dashboard_models(prod))
    for metric in ("node_cpu_seconds_total", "node_zfs_zpool_state", "node_zfs_arc_hits", "kube_node_status_condition",
                   "etcd_server_has_leader", "certmanager_certificate_expiration_timestamp_seconds",
                   "mysql_global_status_wsrep_cluster_size", "opensearch_cluster_status",
                   "rabbitmq_detailed_queue_messages_ready", "redis_memory_used_bytes", "varnish_main_cache_hit",
                   "phpfpm_active_processes", "nginx_http_requests_total", "envoy_cluster_upstream_rq",
                   "velero_backup_last_successful_timestamp"):
        assert metric in text, metric


def test_dashboard_queries_parse_with_promtool(prod, tmp_path):
    """Each dashboard query as a recording rule: promtool parses every expression."""
    queries = dashboard_queries(prod)
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}:value", "expr": expr} for i, expr in enumerate(queries.values())]}]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_runbook_link_has_its_section():
    from offline.stackfile import ROOT

    doc = (ROOT / "docs" / "observability.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[4:].strip().lower()).replace(" ", "-") for line in doc.splitlines()
               if line.startswith("### ")}
    linked = {rule["annotations"]["runbook_url"].split("#", 1)[1] for content in rules.rule_files().values()
              for group in content["groups"] for rule in group["rules"]}
    assert linked and linked <= anchors, sorted(linked - anchors)
