"""Metrics of the data layer under mocks: the mysqld_exporter sidecar in the PXC pods and its PodMonitor, the
OpenSearch prometheus-exporter plugin, its monitoring user and ServiceMonitor; monitors off with the flag."""

from __future__ import annotations

from components import versions
from components.data import opensearch, pxc, pxc_exporter
from offline.engine import Recording
from tests.layer_helpers import comes_after, kind, stack_values


def pxc_spec(rec: Recording) -> dict:
    (cr,) = kind(rec, "PerconaXtraDBCluster")
    return cr.inputs["spec"]


def sidecar(rec: Recording) -> dict:
    (container,) = [s for s in pxc_spec(rec)["pxc"]["sidecars"] if s["name"] == pxc_exporter.CONTAINER]
    return container


def search_spec(rec: Recording) -> dict:
    (cr,) = kind(rec, "OpenSearchCluster")
    return cr.inputs["spec"]


def named(rec: Recording, kind_name: str, name: str) -> dict:
    (obj,) = [r.inputs for r in kind(rec, kind_name) if r.inputs["metadata"]["name"] == name]
    return obj


# ------------------------------------------------------------------------------------------- PXC


def test_every_pxc_member_runs_the_pinned_exporter_as_the_monitor_user(stack_recording: Recording):
    container = sidecar(stack_recording)
    assert container["image"] == versions.image("mysqld-exporter").ref == "docker.io/prom/mysqld-exporter:v0.20.0"
    assert "--mysqld.username=monitor" in container["args"] and "--mysqld.address=127.0.0.1:3306" in container["args"]
    (env,) = container["env"]
    # The password is the operator's `monitor` system user, from the Secret the cluster reads its users from.
    assert env == {"name": "MYSQLD_EXPORTER_PASSWORD",
                   "valueFrom": {"secretKeyRef": {"name": pxc_spec(stack_recording)["secretsName"], "key": "monitor"}}}
    (users,) = [r.inputs for r in kind(stack_recording, "Secret") if r.inputs["metadata"]["name"] == pxc.SYSTEM_USERS_SECRET]
    assert "monitor" in users["stringData"]


def test_the_exporter_collects_global_status_and_variables_only(prod: Recording):
    args = sidecar(prod)["args"]
    assert {"--collect.global_status", "--collect.global_variables"} <= set(args)
    assert "--no-collect.slave_status" in args


def test_the_exporter_is_unprivileged_and_bounded(prod: Recording):
    container = sidecar(prod)
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["runAsUser"] == 65534 and security["readOnlyRootFilesystem"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    assert "readinessProbe" not in container  # would take the member out of the HAProxy backends


def test_the_podmonitor_scrapes_the_sidecar_port_on_the_pxc_pods(prod: Recording):
    (monitor,) = [r for r in kind(prod, "PodMonitor") if r.inputs["metadata"]["name"] == pxc_exporter.PODMONITOR]
    spec = monitor.inputs["spec"]
    assert monitor.inputs["metadata"]["namespace"] == pxc.NAMESPACE
    assert spec["selector"]["matchLabels"] == pxc.pod_labels("pxc")
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in sidecar(prod)["ports"]}
    (cluster,) = kind(prod, "PerconaXtraDBCluster")
    assert comes_after(prod, monitor, cluster)


def test_the_capacity_model_counts_the_sidecar(prod: Recording):
    """A PXC pod in the capacity model requests mysqld's resources plus the exporter's (offline/capacity_pods.py)."""
    from offline.capacity_pods import _pxc, _resources

    (cr,) = kind(prod, "PerconaXtraDBCluster")
    member = next(w for w in _pxc(cr, prod) if w.name.endswith("-pxc"))
    mysqld, exporter = _resources(pxc_spec(prod)["pxc"]["resources"]), _resources(pxc_exporter.RESOURCES)
    assert exporter[0] > 0 and exporter[1] > 0
    assert (member.cpu, member.memory) == (mysqld[0] + exporter[0], mysqld[1] + exporter[1])


def test_monitors_off_keeps_the_sidecar_and_drops_the_monitors(run):
    values = stack_values("prod")
    values["platform"]["observability"]["serviceMonitors"] = False
    monitors_off = run(values, stack="prod")
    assert sidecar(monitors_off)  # switching it would roll every member
    assert not [r for r in kind(monitors_off, "PodMonitor") if r.inputs["metadata"]["name"] == pxc_exporter.PODMONITOR]
    assert not [r for r in kind(monitors_off, "ServiceMonitor") if r.inputs["metadata"]["namespace"] == opensearch.NAMESPACE]


# ------------------------------------------------------------------------------------------- OpenSearch


def test_every_node_installs_the_exporter_plugin_of_its_exact_opensearch_version(stack_recording: Recording):
    general = search_spec(stack_recording)["general"]
    pin = versions.plugin("opensearch-prometheus-exporter")
    assert pin.url in general["pluginsList"]
    # OpenSearch refuses a plugin built for another version: 2.19.3 takes 2.19.3.x only.
    assert pin.version.rsplit(".", 1)[0] == general["version"] == versions.image("opensearch").tag
    assert f"/download/{pin.version}/prometheus-exporter-{pin.version}.zip" in pin.url
    assert general["monitoring"] == {"enable": False}  # our ServiceMonitor, not the operator's
    assert general["additionalConfig"]["prometheus.indices"] == "false"


def test_the_servicemonitor_scrapes_every_node_pool_over_verified_https(prod: Recording):
    monitor = named(prod, "ServiceMonitor", "opensearch-metrics")
    spec = monitor["spec"]
    assert monitor["metadata"]["namespace"] == opensearch.NAMESPACE
    # The operator's per-pool headless Services carry the cluster label and the pool label.
    for pool in search_spec(prod)["nodePools"]:
        labels = opensearch.pod_labels(pool["component"])
        assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items())
        assert all(e["key"] in labels for e in spec["selector"]["matchExpressions"])
    (endpoint,) = spec["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == ("http", "/_prometheus/metrics", "https")
    assert "insecureSkipVerify" not in endpoint["tlsConfig"]
    http_tls = search_spec(prod)["security"]["tls"]["http"]
    assert http_tls["generate"] is False and http_tls["secret"] == {"name": "opensearch-http-tls"}  # cert-manager's (search_tls.py)
    assert endpoint["tlsConfig"]["ca"] == {"secret": {"name": "opensearch-http-tls", "key": "ca.crt"}}
    assert endpoint["tlsConfig"]["serverName"] == f"{opensearch.CLUSTER}.{opensearch.NAMESPACE}.svc"


def test_the_scraper_has_monitor_actions_only_and_its_own_password(prod: Recording):
    import yaml

    monitor = named(prod, "ServiceMonitor", "opensearch-metrics")
    auth = monitor["spec"]["endpoints"][0]["basicAuth"]
    secret = named(prod, "Secret", auth["username"]["name"])
    assert auth["password"]["name"] == secret["metadata"]["name"] and secret["metadata"]["namespace"] == opensearch.NAMESPACE
    # The user is ours in internal_users.yml, mapped by backend role to a role of monitor actions only.
    files = named(prod, "Secret", opensearch.SECURITY_CONFIG_SECRET)["stringData"]
    user = yaml.safe_load(files["internal_users.yml"])[secret["stringData"]["username"]]
    assert user["hash"].startswith("$2") and user["backend_roles"] == ["platform-metrics"]
    role = named(prod, "OpensearchRole", "platform-metrics")["spec"]
    assert role["clusterPermissions"] == ["cluster_monitor"]
    assert role["indexPermissions"] == [{"indexPatterns": ["*"], "allowedActions": ["indices_monitor"]}]
    binding = named(prod, "OpensearchUserRoleBinding", "platform-metrics")["spec"]
    assert binding["backendRoles"] == ["platform-metrics"] and binding["roles"] == ["platform-metrics"]
    admin = named(prod, "Secret", opensearch.ADMIN_SECRET)
    assert secret["stringData"]["password"] != admin["stringData"]["password"]
    # Its name is a Secret value: no OpensearchUser carries it (the exposure policy would refuse that).
    assert not [u for u in kind(prod, "OpensearchUser") if u.inputs["metadata"]["name"] == secret["stringData"]["username"]]
