"""Harbor through the shared Gateway: with `platform.registry.hostname`, prod gets a listener and a certificate
for it, the Harbor chart's own HTTPRoute (rendered from the chart cache, as the provider renders it) sends
`/v2/`, `/api/`, `/service/` and `/c/` to harbor-core and the rest to harbor-portal, Envoy's 15 s default
timeout is lifted for layer transfers, and `externalURL` is the https URL of that host."""

from __future__ import annotations

import pytest

from offline.engine import Recording, run_program
from offline.references import check_references
from offline.stackfile import settings_from_values
from tests.layer_helpers import chart, kind, problems, rendered, schema_problems, stack_values

HOST = "registry.example.com"


@pytest.fixture(scope="module")
def rec() -> Recording:
    values = stack_values("prod")
    values["platform"]["registry"] = {"hostname": HOST}
    return run_program(settings_from_values(values, stack="prod"))


def gateway_spec(rec: Recording) -> dict:
    (gateway,) = kind(rec, "Gateway")
    return gateway.inputs["spec"]


def test_the_gateway_has_a_listener_and_a_certificate_for_harbor(rec):
    (listener,) = [item for item in gateway_spec(rec)["listeners"] if item["name"] == "https-registry"]
    assert (listener["hostname"], listener["port"], listener["protocol"]) == (HOST, 443, "HTTPS")
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "group": "", "name": "registry-tls"}]
    # Only Harbor's namespace may attach routes to it, as only a store's own namespace may to the store's.
    assert listener["allowedRoutes"]["namespaces"]["selector"] == {"matchLabels": {"kubernetes.io/metadata.name": "harbor"}}
    (certificate,) = [c for c in kind(rec, "Certificate") if c.inputs["metadata"]["name"] == "registry"]
    spec = certificate.inputs["spec"]
    assert certificate.inputs["metadata"]["namespace"] == "edge"
    assert (spec["secretName"], spec["dnsNames"], spec["issuerRef"]["kind"]) == ("registry-tls", [HOST], "ClusterIssuer")
    assert schema_problems([certificate, *kind(rec, "Gateway")]) == []


def test_harbor_routes_its_api_and_registry_to_core_and_the_rest_to_the_portal(rec):
    values = chart(rec, "harbor").inputs["values"]
    assert values["externalURL"] == f"https://{HOST}"
    assert values["expose"]["type"] == "route" and values["expose"]["tls"]["enabled"] is False
    (route,) = rendered(rec, "harbor", "HTTPRoute")
    spec = route.inputs["spec"]
    assert route.inputs["metadata"] == {**route.inputs["metadata"], "name": "harbor-route", "namespace": "harbor"}
    assert spec["hostnames"] == [HOST]
    assert spec["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "edge",
                                   "name": "shared", "sectionName": "https-registry"}]
    backends = {match["path"]["value"]: (rule["backendRefs"][0]["name"], rule["backendRefs"][0]["port"])
                for rule in spec["rules"] for match in rule["matches"]}
    assert backends == {"/api/": ("harbor-core", 80), "/service/": ("harbor-core", 80), "/v2/": ("harbor-core", 80),
                        "/c/": ("harbor-core", 80), "/": ("harbor-portal", 80)}
    services = {(s.inputs["metadata"]["name"], port["port"]) for s in rendered(rec, "harbor", "Service") for port in s.inputs["spec"]["ports"]}
    assert {("harbor-core", 80), ("harbor-portal", 80)} <= services
    # The route replaces the chart's nginx proxy.
    assert not [d for d in rendered(rec, "harbor", "Deployment") if d.inputs["metadata"]["name"] == "harbor-nginx"]
    assert schema_problems([route]) == []


def test_layer_transfers_are_not_cut_by_envoys_default_timeout_nor_buffered(rec):
    (policy,) = [p for p in kind(rec, "BackendTrafficPolicy") if p.inputs["metadata"]["namespace"] == "harbor"]
    spec = policy.inputs["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "harbor-route"}]
    assert spec["timeout"]["http"]["requestTimeout"] == "1h"
    assert "requestBuffer" not in spec  # buffering would hold whole layers in Envoy and refuse those above its limit
    assert schema_problems([policy]) == []


def test_envoy_reaches_harbor_and_every_reference_resolves(rec):
    (isolation,) = [p for p in rec.kubernetes_objects()
                    if p.inputs["kind"] == "CiliumNetworkPolicy" and p.inputs["metadata"]["namespace"] == "harbor"]
    peers = isolation.inputs["spec"]["ingress"][0]["fromEndpoints"]
    assert {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "envoy-gateway-system"}} in peers
    found = [p for p in check_references([r.inputs for r in rec.kubernetes_objects()])
             if "harbor" in str(p) or "registry" in str(p)]
    assert found == []


def test_without_a_hostname_harbor_stays_in_the_cluster(prod):
    values = chart(prod, "harbor").inputs["values"]
    assert values["expose"] == {"type": "clusterIP", "tls": {"enabled": False}}
    assert rendered(prod, "harbor", "HTTPRoute") == []
    assert not [item for item in gateway_spec(prod)["listeners"] if item["name"] == "https-registry"]
    assert not [c for c in kind(prod, "Certificate") if c.inputs["metadata"]["name"] == "registry"]


def test_harbor_hostname_may_not_be_a_store_domain():
    values = stack_values("prod")
    values["platform"]["registry"] = {"hostname": values["sites"][0]["domains"][0].lower()}
    assert "one Gateway listener" in problems(values)["platform.registry.hostname"]
