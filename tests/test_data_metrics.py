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
