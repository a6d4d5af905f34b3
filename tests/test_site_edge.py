"""The site edge component, built under mocks against a backend Service the test creates."""

from __future__ import annotations

import functools
import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.config.loader import load_from_pulumi
from offline.engine import Recording, run_program
from offline.references import check_references
from offline.stackfile import settings_from_values
from sites.edge import BackendService, SiteEdge, SiteEdgeArgs
from tests.layer_helpers import kind, problems, schema_problems, stack_values

BACKEND_LABELS = {"app.kubernetes.io/name": "varnish"}


def program() -> None:
    """A test backend (the store's Varnish Service) and the site edge of the first store in front of it."""
    config, _ = load_from_pulumi()
    site = config.sites[0]
    namespace = f"site-{site.name}"
    provider = k8s.Provider("test-kubernetes")
    backend = k8s.core.v1.Service(
        "test-varnish",
        metadata={"name": "varnish", "namespace": namespace},
        spec={"selector": BACKEND_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": 6081}]},
        opts=pulumi.ResourceOptions(provider=provider),
    )
    k8s.apps.v1.Deployment(
        "test-varnish-pods",
        metadata={"name": "varnish", "namespace": namespace},
        spec={
            "selector": {"matchLabels": BACKEND_LABELS},
            "template": {
                "metadata": {"labels": BACKEND_LABELS},
                "spec": {"containers": [{"name": "varnish", "image": "docker.io/library/varnish:7.6.1", "ports": [{"containerPort": 6081}]}]},
            },
        },
        opts=pulumi.ResourceOptions(provider=provider),
    )
    SiteEdge(
        site.name,
        SiteEdgeArgs(
            site,
            BackendService("varnish", namespace, 80, BACKEND_LABELS, 6081),
            config.cluster.pod_cidr,
            config.failure_domains,
        ),
        pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=[backend]),
    )


def build(values: dict) -> Recording:
    return run_program(settings_from_values(values, stack="prod"), program=program)


@functools.cache
def default_prod() -> Recording:
    return build(stack_values("prod"))


@pytest.fixture
def rec() -> Recording:
    return default_prod()


def with_edge(**edge) -> Recording:
    values = stack_values("prod")
    values["sites"][0]["edge"] = edge
    return build(values)


def obj(rec: Recording, kind_name: str, name: str) -> dict:
    (found,) = [r.inputs for r in kind(rec, kind_name) if r.inputs["metadata"]["name"] == name]
    return found


def env(rec: Recording) -> dict[str, str]:
    return obj(rec, "ConfigMap", "waf-settings")["data"]


def test_one_rate_limit_rule_per_configured_endpoint(rec):
    (policy,) = kind(rec, "BackendTrafficPolicy")
    rules = policy.inputs["spec"]["rateLimit"]["local"]["rules"]
    assert policy.inputs["spec"]["rateLimit"]["type"] == "Local"
    assert len(rules) == 5
    paths = {r["clientSelectors"][0]["path"]["value"]: r["limit"] for r in rules}
    assert paths["/customer/account/loginPost"] == {"requests": 60, "unit": "Minute"}
    assert "/admin" in paths  # {adminPath} replaced
    assert any("integration/(customer|admin)/token" in p for p in paths)
    assert {"/graphql", "/checkout"} <= set(paths)
    targets = {t["name"] for t in policy.inputs["spec"]["targetRefs"]}
    assert targets == {"shop-fr-storefront", "shop-fr-admin"}


def test_rate_limits_and_admin_path_from_config():
    rec = with_edge(
        adminPath="backoffice",
        rateLimits=[
            {"name": "admin", "path": "/{adminPath}", "requests": 50},
            {"name": "search", "path": "/catalogsearch/result", "match": "Exact", "requests": 5, "unit": "Second"},
        ],
    )
    rules = kind(rec, "BackendTrafficPolicy")[0].inputs["spec"]["rateLimit"]["local"]["rules"]
    assert [(r["clientSelectors"][0]["path"], r["limit"]) for r in rules] == [
        ({"type": "PathPrefix", "value": "/backoffice"}, {"requests": 50, "unit": "Minute"}),
        ({"type": "Exact", "value": "/catalogsearch/result"}, {"requests": 5, "unit": "Second"}),
    ]
    admin = obj(rec, "HTTPRoute", "shop-fr-admin")
    assert admin["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/backoffice"}}]
    assert '"@beginsWith /backoffice/"' in obj(rec, "ConfigMap", "waf-files")["data"]["REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"]


def test_waf_defaults_to_detection_only_at_paranoia_one(rec):
    settings = env(rec)
    assert settings["MODSEC_RULE_ENGINE"] == "DetectionOnly"
    assert settings["BLOCKING_PARANOIA"] == "1"
    rules = obj(rec, "ConfigMap", "waf-files")["data"]["REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"]
    assert all(f"id:{rule_id}" in rules for rule_id in (1010, 1020, 1030))


def test_waf_mode_paranoia_and_exclusions_from_config():
    rec = with_edge(waf={"mode": "blocking", "paranoiaLevel": 2, "anomalyInboundThreshold": 10, "exclusions": ["graphql"]})
    settings = env(rec)
    assert settings["MODSEC_RULE_ENGINE"] == "On"
    assert settings["BLOCKING_PARANOIA"] == "2" and settings["ANOMALY_INBOUND"] == "10"
    rules = obj(rec, "ConfigMap", "waf-files")["data"]["REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"]
    assert "id:1030" in rules and "id:1010" not in rules and "id:1020" not in rules
    # A changed configuration rolls the pods.
    before = obj(default_prod(), "Deployment", "waf")["spec"]["template"]["metadata"]["annotations"]
    after = obj(rec, "Deployment", "waf")["spec"]["template"]["metadata"]["annotations"]
    assert before["magento.io/config-checksum"] != after["magento.io/config-checksum"]


def test_waf_pods_are_locked_down(rec):
    pod = obj(rec, "Deployment", "waf")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/owasp/modsecurity-crs:4.28.0-nginx-202607160307"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs}
    assert {"/etc/nginx", "/etc/modsecurity.d", "/opt/owasp-crs", "/tmp"} <= writable
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}


def test_pdb_and_hpa(rec):
    pdb = obj(rec, "PodDisruptionBudget", "waf")["spec"]
    hpa = obj(rec, "HorizontalPodAutoscaler", "waf")["spec"]
    labels = obj(rec, "Deployment", "waf")["spec"]["template"]["metadata"]["labels"]
    assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"].items() <= labels.items()
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "waf"}


def test_forwarded_headers_and_client_ip_reach_magento_intact(rec):
    settings = env(rec)
    assert settings["NGINX_ALWAYS_TLS_REDIRECT"] == "off"
    assert settings["REAL_IP_HEADER"] == "X-Forwarded-For"
    assert settings["SET_REAL_IP_FROM"] == "10.244.0.0/16"  # only Envoy (pod network) is believed
    # The image's own proxy include passes NGINX_X_FORWARDED_PROTO on: the Gateway's scheme, not the WAF's.
    assert settings["NGINX_X_FORWARDED_PROTO"] == "$http_x_forwarded_proto"
    files = obj(rec, "ConfigMap", "waf-files")["data"]
    assert set(files) == {"REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf", "zz-magento-client-limits.conf"}


def test_references_resolve_route_to_waf_to_backend(rec):
    route = obj(rec, "HTTPRoute", "shop-fr-storefront")
    (backend_ref,) = route["spec"]["rules"][0]["backendRefs"]
    service = obj(rec, "Service", backend_ref["name"])
    assert service["metadata"]["namespace"] == route["metadata"]["namespace"] == "site-shop-fr"
    assert backend_ref["port"] in [p["port"] for p in service["spec"]["ports"]]
    deployment = obj(rec, "Deployment", "waf")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    port_names = [p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]]
    assert service["spec"]["ports"][0]["targetPort"] in port_names
    backend = rec.named("test-varnish").inputs
    assert env(rec)["BACKEND"] == f"http://{backend['metadata']['name']}.{backend['metadata']['namespace']}.svc.cluster.local:80"


def test_no_dangling_references_with_the_platform(rec, prod):
    """Route -> Gateway and WAF Service, Service -> WAF pods, HPA/PDB -> Deployment, pods -> ConfigMaps,
    NetworkPolicies -> pods, Certificate -> namespace: checked by the plan's reference check, with the
    platform stack's objects (Gateway, namespaces) beside the site edge's."""
    # The platform stack builds the first store itself: its objects in the store's namespace are replaced by
    # this test's (the namespace itself stays, from the platform).
    ns = f"site-{stack_values('prod')['sites'][0]['name']}"
    platform = [r.inputs for r in prod.kubernetes_objects() if r.inputs["metadata"].get("namespace") != ns]
    objects = platform + [r.inputs for r in rec.kubernetes_objects()]
    assert [str(p) for p in check_references(objects)] == []


def test_routes_attach_to_the_sites_listeners_on_the_shared_gateway(rec, prod):
    gateway = next(r for r in kind(prod, "Gateway")).inputs
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    route = obj(rec, "HTTPRoute", "shop-fr-storefront")
    for parent in route["spec"]["parentRefs"]:
        assert (parent["namespace"], parent["name"]) == (gateway["metadata"]["namespace"], gateway["metadata"]["name"])
        listener = listeners[parent["sectionName"]]
        assert listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]["kubernetes.io/metadata.name"] == "site-shop-fr"
    assert {listeners[p["sectionName"]]["hostname"] for p in route["spec"]["parentRefs"]} == set(route["spec"]["hostnames"])
    # The edge layer (platform stack) issues the store's certificate beside its listeners.
    (certificate,) = [c.inputs for c in kind(prod, "Certificate") if c.inputs["metadata"]["name"] == "site-shop-fr"]
    assert certificate["spec"]["secretName"] == listeners["https-shop-fr-0"]["tls"]["certificateRefs"][0]["name"]
    assert certificate["metadata"]["namespace"] == "edge"
    assert certificate["spec"]["dnsNames"] == stack_values("prod")["sites"][0]["domains"]
    assert certificate["spec"]["issuerRef"]["name"] == next(iter(kind(prod, "ClusterIssuer"))).inputs["metadata"]["name"]


def test_admin_allow_list(rec):
    assert kind(with_edge(), "SecurityPolicy") == []  # empty allow-list: the admin stays open (rate-limited)
    restricted = with_edge(adminAllowCidrs=["203.0.113.0/28"])
    (policy,) = kind(restricted, "SecurityPolicy")
    assert kind(rec, "SecurityPolicy")[0].inputs["spec"] == policy.inputs["spec"]  # as set in Pulumi.prod.yaml
    spec = policy.inputs["spec"]
    assert spec["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "shop-fr-admin"}]
    assert spec["authorization"]["defaultAction"] == "Deny"
    assert spec["authorization"]["rules"][0]["principal"] == {"clientCIDRs": ["203.0.113.0/28"]}
    assert schema_problems(restricted.kubernetes_objects()) == []


def test_network_policies_admit_only_the_gateway_and_reach_only_the_backend(rec):
    inbound = obj(rec, "NetworkPolicy", "waf-from-gateway")["spec"]["ingress"][0]
    peer = inbound["from"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "envoy-gateway-system"}
    assert inbound["ports"] == [{"protocol": "TCP", "port": 8080}]
    outbound = obj(rec, "NetworkPolicy", "waf-to-backend")["spec"]["egress"][0]
    assert outbound["to"][0]["podSelector"]["matchLabels"] == BACKEND_LABELS
    assert outbound["ports"] == [{"protocol": "TCP", "port": 6081}]
    backend_in = obj(rec, "NetworkPolicy", "backend-from-waf")["spec"]
    assert backend_in["podSelector"]["matchLabels"] == BACKEND_LABELS


def test_every_site_edge_object_is_schema_valid(rec):
    assert schema_problems(rec.kubernetes_objects()) == []


def test_no_secret_or_setting_leaks_into_plain_text(rec):
    assert "secure" not in json.dumps([r.inputs for r in rec.kubernetes_objects()])


@pytest.mark.parametrize(
    ("edge", "path"),
    [
        ({"waf": {"paranoiaLevel": 5}}, "sites[0].edge.waf.paranoiaLevel"),
        ({"waf": {"mode": "block"}}, "sites[0].edge.waf.mode"),
        ({"waf": {"exclusions": ["admin", "admin"]}}, "sites[0].edge.waf.exclusions"),
        ({"waf": {"exclusions": ["wordpress"]}}, "sites[0].edge.waf.exclusions[0]"),
        ({"waf": {"minReplicas": 5, "maxReplicas": 2}}, "sites[0].edge.waf"),
        ({"rateLimits": [{"name": "x", "path": "([", "match": "RegularExpression", "requests": 1}]}, "sites[0].edge.rateLimits[0]"),
        ({"rateLimits": [{"name": "x", "path": "login", "requests": 1}]}, "sites[0].edge.rateLimits[0]"),
        ({"rateLimits": [{"name": "a", "path": "/a", "requests": 1}, {"name": "a", "path": "/b", "requests": 1}]}, "sites[0].edge.rateLimits"),
        ({"rateLimits": [{"name": "a", "path": "/a", "requests": 0}]}, "sites[0].edge.rateLimits[0].requests"),
        ({"adminPath": "admin/../x"}, "sites[0].edge.adminPath"),
        ({"adminAllowCidrs": ["203.0.113.1/28"]}, "sites[0].edge.adminAllowCidrs[0]"),
        ({"wafMode": "blocking"}, "sites[0].edge.wafMode"),
    ],
)
def test_bad_site_edge_settings_are_rejected(edge, path):
    values = stack_values("prod")
    values["sites"][0]["edge"] = edge
    assert path in problems(values), problems(values)
