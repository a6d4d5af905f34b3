"""The edge layer under mocks: Gateway API + Envoy Gateway, cert-manager, the shared Gateway."""

from __future__ import annotations

from tests.layer_helpers import chart, comes_after, in_layer, kind, problems, schema_problems, stack_values


def one(rec, kind_name):
    (found,) = kind(rec, kind_name)
    return found


def test_crds_chart_installs_standard_gateway_api_and_envoy_gateway_crds(stack_recording):
    values = chart(stack_recording, "gateway-crds").inputs["values"]
    assert values == {"crds": {"gatewayAPI": {"enabled": True, "channel": "standard"}, "envoyGateway": {"enabled": True}}}


def test_charts_are_pinned_and_ordered(stack_recording):
    rec = stack_recording
    crds, envoy_gateway, cert_manager = chart(rec, "gateway-crds"), chart(rec, "envoy-gateway"), chart(rec, "cert-manager")
    assert crds.inputs["chart"] == "oci://docker.io/envoyproxy/gateway-crds-helm"
    assert envoy_gateway.inputs["skipCrds"] is True
    assert envoy_gateway.inputs["values"]["crds"] == {"enabled": False}
    assert comes_after(rec, envoy_gateway, crds)
    assert comes_after(rec, cert_manager, crds)
    for name in ("Gateway", "GatewayClass", "EnvoyProxy", "HTTPRoute", "ClientTrafficPolicy"):
        for record in kind(rec, name):
            assert comes_after(rec, record, crds) and comes_after(rec, record, envoy_gateway), name
    assert comes_after(rec, one(rec, "ClusterIssuer"), cert_manager)
    assert comes_after(rec, crds, chart(rec, "cilium"))


def test_cert_manager_values(prod, dev):
    values = chart(prod, "cert-manager").inputs["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["config"]["enableGatewayAPI"] is True
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"]["enabled"] is True
    assert chart(dev, "cert-manager").inputs["values"]["replicaCount"] == 1


def test_cluster_issuer_solves_http01_through_the_shared_gateway(prod, dev):
    acme = one(prod, "ClusterIssuer").inputs["spec"]["acme"]
    assert acme["email"] == "platform@example.com"
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    (solver,) = acme["solvers"]
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
        {"name": "shared", "namespace": "edge", "kind": "Gateway", "sectionName": "http"}
    ]
    assert "staging" in one(dev, "ClusterIssuer").inputs["spec"]["acme"]["server"]


def test_dns01_with_cloudflare_uses_the_secret_token(run):
    values = stack_values("prod")
    values["edge"]["acme"] = {"email": "platform@example.com", "solver": "dns01", "dnsProvider": "cloudflare"}
    rec = run(values, stack="prod")
    (solver,) = one(rec, "ClusterIssuer").inputs["spec"]["acme"]["solvers"]
    assert solver["dns01"]["cloudflare"]["apiTokenSecretRef"] == {"name": "acme-dns-api-token", "key": "api-token"}
    token = rec.named("acme-dns-api-token", "kubernetes:core/v1:Secret")
    assert token.is_secret("stringData.api-token")
    assert token.inputs["metadata"]["namespace"] == "cert-manager"
    assert comes_after(rec, one(rec, "ClusterIssuer"), token)


def test_dns01_settings_are_checked():
    values = stack_values("prod")
    values["edge"]["acme"] = {"email": "platform@example.com", "solver": "dns01"}
    assert "edge.acme.dnsProvider" in problems(values)
    values["edge"]["acme"]["dnsProvider"] = "ovh"  # needs a cert-manager webhook this program does not install
    assert problems(values)["edge.acme.dnsProvider"] == "Input should be 'cloudflare'"
    values["edge"]["acme"] = {"email": "platform@example.com", "solver": "http01", "dnsProvider": "cloudflare"}
    assert "edge.acme.dnsProvider" in problems(values)


def test_gateway_has_http_and_one_tls_listener_per_site_domain(prod):
    gateway = one(prod, "Gateway").inputs
    assert gateway["metadata"] == {"name": "shared", "namespace": "edge", "labels": gateway["metadata"]["labels"]}
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    assert listeners["http"]["port"] == 80 and listeners["http"]["protocol"] == "HTTP"
    https = {name: item for name, item in listeners.items() if item["protocol"] == "HTTPS"}
    # every domain of every store in the stack file, and nothing else
    domains = {domain for site in stack_values("prod")["sites"] for domain in site["domains"]}
    assert {"www.example.fr", "example.fr", "www.example.de", "example.de"} <= domains
    assert sorted(item["hostname"] for item in https.values()) == sorted(domains)
    fr = https["https-shop-fr-0"]
    assert fr["port"] == 443 and fr["tls"]["mode"] == "Terminate"
    assert fr["tls"]["certificateRefs"] == [{"kind": "Secret", "group": "", "name": "site-shop-fr-tls"}]
    assert fr["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {"kubernetes.io/metadata.name": "site-shop-fr"}
    assert gateway["spec"]["infrastructure"]["parametersRef"]["kind"] == "EnvoyProxy"


def test_http_redirects_to_https(stack_recording):
    route = stack_recording.named("http-to-https").inputs
    assert route["spec"]["parentRefs"] == [{"name": "shared", "sectionName": "http"}]
    (rule,) = route["spec"]["rules"]
    assert rule["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]


def test_envoy_keeps_client_addresses_and_gets_the_configured_address(prod, dev):
    kubernetes = one(prod, "EnvoyProxy").inputs["spec"]["provider"]["kubernetes"]
    assert kubernetes["envoyService"]["externalTrafficPolicy"] == "Local"
    # MetalLB needs no NodePorts; none are opened for the Gateway (they would be public under Cilium's eBPF)
    assert kubernetes["envoyService"]["allocateLoadBalancerNodePorts"] is False
    assert kubernetes["envoyService"]["annotations"] == {"metallb.io/loadBalancerIPs": "203.0.113.241"}
    assert kubernetes["envoyDeployment"]["replicas"] == 2 and kubernetes["envoyPDB"] == {"minAvailable": 1}
    dev_kubernetes = one(dev, "EnvoyProxy").inputs["spec"]["provider"]["kubernetes"]
    assert "annotations" not in dev_kubernetes["envoyService"]
    assert dev_kubernetes["envoyDeployment"]["replicas"] == 1 and "envoyPDB" not in dev_kubernetes


def test_trusted_proxies_come_from_config(prod, run):
    assert "clientIPDetection" not in one(prod, "ClientTrafficPolicy").inputs["spec"]
    values = stack_values("prod")
    values["edge"]["trustedProxyCidrs"] = ["173.245.48.0/20", "103.21.244.0/22"]
    spec = one(run(values, stack="prod"), "ClientTrafficPolicy").inputs["spec"]
    assert spec["clientIPDetection"] == {"xForwardedFor": {"trustedCIDRs": ["173.245.48.0/20", "103.21.244.0/22"]}}
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared"}]


def test_gateway_address_must_be_in_a_pool():
    values = stack_values("prod")
    values["edge"]["gatewayAddress"] = "198.51.100.100"
    assert "not inside any" in problems(values)["edge.gatewayAddress"]


def test_a_domain_served_by_two_sites_is_rejected():
    values = stack_values("prod")
    values["sites"][1]["domains"] = ["www.example.de", "example.fr"]
    assert "already served by sites[0]" in problems(values)["sites[1].domains[1]"]


def test_bad_trusted_proxy_cidr_is_rejected():
    values = stack_values("prod")
    values["edge"]["trustedProxyCidrs"] = ["10.0.0.1/8"]
    assert "edge.trustedProxyCidrs[0]" in problems(values)


def test_monitors_by_default_after_the_crds_and_off_with_the_flag(prod, run):
    assert [m.inputs["metadata"]["name"] for m in kind(prod, "ServiceMonitor") if prod.layer_of(m) == "edge"] == ["envoy-gateway"]
    assert [m.inputs["metadata"]["name"] for m in kind(prod, "PodMonitor") if prod.layer_of(m) == "edge"] == ["envoy-proxy"]
    assert chart(prod, "cert-manager").inputs["values"]["prometheus"]["servicemonitor"]["enabled"] is True
    crds = chart(prod, "monitoring-crds")
    for monitor in kind(prod, "PodMonitor"):
        assert comes_after(prod, monitor, crds)
    assert schema_problems(in_layer(prod, "edge")) == []
    values = stack_values("prod")
    values["platform"]["observability"]["serviceMonitors"] = False
    rec = run(values, stack="prod")
    assert not [m for m in kind(rec, "ServiceMonitor") + kind(rec, "PodMonitor") if rec.layer_of(m) == "edge"]


def test_every_edge_object_is_schema_valid(stack_recording):
    assert schema_problems(in_layer(stack_recording, "edge")) == []
