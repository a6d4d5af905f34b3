"""A store's network paths, evaluated from the NetworkPolicies the program registers (default deny both
ways, a flow passes when the sender's egress and the receiver's ingress both allow it): exactly gateway ->
WAF -> Varnish -> nginx -> PHP-FPM -> the store's data services, purges from PHP to Varnish, DNS, object
storage and the configured APIs; nothing else, and nothing between two stores."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.edge.gateway import ENVOY_GATEWAY_NAMESPACE, ENVOY_POD_LABELS
from offline.references import pod_template
from sites.exporters import EXPORTER_PORTS, FPM_EXPORTER_PORT, NGINX_EXPORTER_PORT, VARNISH_EXPORTER_PORT
from tests.test_sites_workloads import objects, recording

ENVOY = (ENVOY_GATEWAY_NAMESPACE, dict(ENVOY_POD_LABELS))


def pods(rec, namespace: str) -> dict[str, dict[str, str]]:
    """Workload name -> its pods' labels, in a store's namespace."""
    return {o["metadata"]["name"]: pod_template(o)["metadata"]["labels"] for o in objects(rec, namespace) if pod_template(o)}


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _peer_matches(peer: dict[str, Any], own_ns: str, ns: str, labels: dict[str, str] | None, address: str | None) -> bool:
    if "ipBlock" in peer:
        if address is None:
            return False
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(address)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ns}):
            return False
    elif ns != own_ns:
        return False
    if "podSelector" in peer:
        return labels is not None and _selects(peer["podSelector"], labels)
    return True


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    return not rule.get("ports") or any(p.get("port") == port for p in rule["ports"])


def allows(policies, direction: str, own_ns: str, own: dict[str, str], peer_ns: str, peer: dict[str, str] | None,
           port: int, address: str | None = None) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in policies:
        spec = policy["spec"]
        if policy["metadata"]["namespace"] != own_ns or direction not in spec["policyTypes"]:
            continue
        if not _selects(spec["podSelector"], own):
            continue
        for rule in spec.get(key) or []:
            if _port_ok(rule, port) and any(_peer_matches(p, own_ns, peer_ns, peer, address) for p in rule.get(peers_key, [])):
                return True
    return False


def flows(rec, namespace: str) -> set[tuple[str, str, int]]:
    """Every (from, to, port) the policies let through between the store's pods and Envoy, over every port used."""
    policies = objects(rec, kind="NetworkPolicy")
    workloads = pods(rec, namespace)
    ports = {8080, 6081, 6091, 9000, 80, 443, 3306, 6379, *EXPORTER_PORTS}
    found = set()
    for src, src_labels in [("envoy", ENVOY[1]), *workloads.items()]:
        src_ns = ENVOY[0] if src == "envoy" else namespace
        for dst, dst_labels in workloads.items():
            for port in ports:
                out = src == "envoy" or allows(policies, "Egress", src_ns, src_labels, namespace, dst_labels, port)
                if out and allows(policies, "Ingress", namespace, dst_labels, src_ns, src_labels, port):
                    found.add((src, dst, port))
    return found


@pytest.mark.parametrize("site", ["shop-fr", "shop-de"])
def test_pod_to_pod_paths_are_exactly_the_request_chain_and_purges(site):
    rec = recording()
    release = {o["metadata"]["name"] for o in objects(rec, f"site-{site}", "Job")}
    php = {"php-fpm", "cron", *release, *(n for n in pods(rec, f"site-{site}") if n.startswith("consumer-"))}
    expected = {("envoy", "waf", 8080), ("waf", "varnish", 6081), ("varnish", "nginx", 8080), ("nginx", "php-fpm", 9000)}
    expected |= {(name, "varnish", 6091) for name in php}
    assert flows(rec, f"site-{site}") == expected


def test_php_pods_reach_only_their_data_services_object_storage_and_apis():
    rec = recording()
    policies = objects(rec, kind="NetworkPolicy")
    workloads = pods(rec, "site-shop-fr")
    data = {("mysql", 3306), ("opensearch", 9200), ("rabbitmq", 5672), ("valkey", 6379), ("valkey", 26379)}
    for name in ("php-fpm", "cron", "consumer-async"):
        labels = workloads[name]
        for ns, port in data:
            assert allows(policies, "Egress", "site-shop-fr", labels, ns, {}, port), (name, ns, port)
        assert not allows(policies, "Egress", "site-shop-fr", labels, "mysql", {}, 22)
        assert not allows(policies, "Egress", "site-shop-fr", labels, "site-shop-de", {}, 9000)
        assert not allows(policies, "Egress", "site-shop-fr", labels, "kube-system", {}, 443)
        assert allows(policies, "Egress", "site-shop-fr", labels, "", None, 443, "141.95.161.20")  # object storage
        assert allows(policies, "Egress", "site-shop-fr", labels, "", None, 443, "192.0.2.10")  # the payments API
        assert not allows(policies, "Egress", "site-shop-fr", labels, "", None, 443, "198.51.100.7")
    for name in ("nginx", "varnish", "waf"):
        assert not allows(policies, "Egress", "site-shop-fr", workloads[name], "mysql", {}, 3306), name
    dns = [p for p in policies if p["metadata"]["name"] == "allow-dns-egress" and p["metadata"]["namespace"] == "site-shop-fr"]
    assert dns and dns[0]["spec"]["podSelector"] == {}


def test_nothing_crosses_between_stores():
    rec = recording()
    policies = objects(rec, kind="NetworkPolicy")
    fr, de = pods(rec, "site-shop-fr"), pods(rec, "site-shop-de")
    for src, src_labels in fr.items():
        for dst, dst_labels in de.items():
            for port in (8080, 6081, 6091, 9000):
                assert not allows(policies, "Ingress", "site-shop-de", dst_labels, "site-shop-fr", src_labels, port), (src, dst)


def test_every_store_namespace_denies_by_default():
    rec = recording()
    for site in ("shop-fr", "shop-de"):
        (deny,) = [p for p in objects(rec, f"site-{site}", "NetworkPolicy") if p["metadata"]["name"] == "default-deny"]
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_release_jobs_reach_the_api_server_and_nothing_else_does():
    rec = recording()
    (cnp,) = objects(rec, "site-shop-de", "CiliumNetworkPolicy")
    assert cnp["spec"]["endpointSelector"]["matchLabels"] == {"app.kubernetes.io/name": "release", "magento.io/site": "shop-de"}
    assert cnp["spec"]["egress"][0]["toEntities"] == ["kube-apiserver"]
    release_pods = {n for n, labels in pods(rec, "site-shop-de").items() if labels.get("app.kubernetes.io/name") == "release"}
    assert len(release_pods) == 2


@pytest.mark.parametrize("site", ["shop-fr", "shop-de"])
def test_only_prometheus_namespace_reaches_the_exporters_and_only_their_ports(site):
    """Prometheus (namespace monitoring) scrapes each tier's exporter port; no other namespace, no other port."""
    rec = recording()
    policies = objects(rec, kind="NetworkPolicy")
    workloads = pods(rec, f"site-{site}")
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    other = "site-shop-de" if site == "shop-fr" else "site-shop-fr"
    scraped = {"nginx": NGINX_EXPORTER_PORT, "php-fpm": FPM_EXPORTER_PORT, "varnish": VARNISH_EXPORTER_PORT}
    for name, labels in workloads.items():
        for port in (*EXPORTER_PORTS, 8080, 6081, 6091, 9000, 8081, 9001):
            allowed = allows(policies, "Ingress", f"site-{site}", labels, "monitoring", prometheus, port)
            assert allowed == (scraped.get(name) == port), (name, port)
            assert not allows(policies, "Ingress", f"site-{site}", labels, other, prometheus, port), (name, port)
            assert not allows(policies, "Ingress", f"site-{site}", labels, "default", {}, port), (name, port)
