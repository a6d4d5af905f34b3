"""A site's request chain on real servers (Debian's), with the files the program generates (tests/servers/chain.py).

WAF (nginx + ModSecurity + CRS, blocking and detection-only) -> two Varnish (our VCL) -> our nginx.conf ->
our PHP-FPM pool and php.ini -> a front controller standing in for Magento. Everything listens on loopback
in a temporary directory and is stopped at the end; every request is bounded (5 s).

What Debian's versions leave untested (production: PHP 8.3, Varnish 7.6/7.7, nginx 1.28/1.30 in the
images, ModSecurity 3.0.16 with CRS 4.28):
* PHP 8.2 runs the pool and php.ini: settings that exist only in 8.3 are not exercised (none are used),
  and Magento itself is not run (the front controller stands in for it);
* Varnish 7.1 compiles and runs the VCL; VCL features newer than 7.1 are not used, and 7.6's changed
  defaults (e.g. workspace sizes) are not measured here;
* CRS 3.3 scores the SQL-injection probe and the scanner user agent; CRS 4's rule numbering, its plugin
  mechanism and the image's own templates and entrypoint (which render nginx from the environment) are not
  run: the WAF's nginx around our files mimics them (tests/servers/chain.py);
* Envoy (TLS, the Gateway's rate limits and SecurityPolicy) is not in the chain: the client sends what
  Envoy adds. The admin allow-list is proven where the chain enforces it too: at the WAF.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from components.config.model import Site
from tests.servers import chain as chain_mod
from tests.servers.chain import ALLOWED_PURGER, OUTSIDER, STATIC_BODY, STATIC_FILE, Chain, request, through_gateway

SITE = Site.model_validate(
    {
        "name": "demo",
        "domains": ["shop.example.com"],
        "image": {"repository": "harbor.example.com/sites/demo", "tag": "2026.12.1"},
        "edge": {"adminPath": "backoffice", "adminAllowCidrs": ["203.0.113.0/28"]},
    }
)
SQLI = "/catalogsearch/result/?q=1%27%20UNION%20SELECT%20username,password%20FROM%20admin_user--%20-"


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    running = chain_mod.start_chain(SITE, waf_modes=("blocking", "detection-only"))
    try:
        yield running
    finally:
        running.stop()


def get(chain: Chain, path: str, mode: str = "blocking", **headers: str) -> chain_mod.Response:
    return request(chain.wafs[mode], path, headers=through_gateway(SITE, **headers))


def test_storefront_answers_200_through_the_whole_chain_over_https_without_redirect(chain: Chain) -> None:
    resp = get(chain, "/")
    assert resp.status == 200, chain.logs()
    page = resp.json()
    assert page["forwarded_proto"] == "https" and page["https"] == "on"  # Magento sees the Gateway's scheme
    assert resp.header("Location") is None
    assert page["remote_addr"] == "198.51.100.7"  # the client, not the WAF or Varnish
    assert page["real_ip"] == "198.51.100.7"  # what Varnish's maintenance allow-list decides on
    forged = get(chain, "/", **{"X-Real-IP": "203.0.113.5"}).json()
    assert forged["real_ip"] == "198.51.100.7"  # a client cannot claim an allow-listed address
    # the same front controller redirects plain HTTP: the chain, not the app, is what avoids the loop
    plain = get(chain, "/", proto="http")
    assert plain.status == 301 and plain.header("Location") == "https://shop.example.com/"


def test_php_runs_with_the_generated_pool_and_ini(chain: Chain) -> None:
    page = get(chain, "/product/7").json()
    pool = chain_mod.sizing.fpm_pool(chain_mod.FPM_RESOURCES, chain_mod.FPM_CHILD_MB)
    assert page["memory_limit"] == f"{pool.memory_limit_mb}M"
    assert page["opcache"] is True


def test_varnish_caches_cacheable_pages_and_passes_checkout_and_customer(chain: Chain) -> None:
    for node in chain.varnishes:
        first = request(node.http_port, "/cms/about", headers=through_gateway(SITE))
        second = request(node.http_port, "/cms/about", headers=through_gateway(SITE))
        assert first.header("X-Magento-Cache-Debug") == "MISS"
        assert second.header("X-Magento-Cache-Debug") == "HIT"
        assert second.body == first.body  # served from the cache: the same render
        # HTTP and HTTPS never share an object: X-Forwarded-Proto is in the hash
        other = request(node.http_port, "/cms/about", headers=through_gateway(SITE, proto="http"))
        assert other.status == 301 and other.header("X-Magento-Cache-Debug") != "HIT"
    # a customer context (Magento's X-Magento-Vary cookie) is its own object: groups never see each other's page
    node = chain.varnishes[0]
    for vary in ("group-a", "group-b"):
        cookie = through_gateway(SITE, Cookie=f"X-Magento-Vary={vary}; PHPSESSID=x")
        assert request(node.http_port, "/cms/vary", headers=cookie).header("X-Magento-Cache-Debug") == "MISS"
        assert request(node.http_port, "/cms/vary", headers=cookie).header("X-Magento-Cache-Debug") == "HIT"
    for path in ("/checkout/cart/", "/customer/account/"):
        before = len(chain.php_hits())
        answers = [get(chain, path) for _ in range(3)]
        assert all(a.status == 200 and a.header("X-Magento-Cache-Debug") != "HIT" for a in answers)
        assert len(chain.php_hits()) - before == 3  # every request reached PHP


def test_purge_from_an_allowed_address_empties_both_varnish_and_elsewhere_is_refused(chain: Chain) -> None:
    path = "/product/42"
    for node in chain.varnishes:
        request(node.http_port, path, headers=through_gateway(SITE))
        assert request(node.http_port, path, headers=through_gateway(SITE)).header("X-Magento-Cache-Debug") == "HIT"
    purge = {"X-Magento-Tags-Pattern": "((^|,)cat_p_42(,|$))", "Host": SITE.domains[0]}
    # refused: another address on the purge listener, the allowed address on the traffic listener, via the WAF
    for node in chain.varnishes:
        assert request(node.purge_port, "/", method="PURGE", headers=purge, source=OUTSIDER).status == 405
        assert request(node.http_port, "/", method="PURGE", headers=purge, source=ALLOWED_PURGER).status == 405
    assert request(chain.wafs["blocking"], "/", method="PURGE", headers={**through_gateway(SITE), **purge}).status in (403, 405)
    for node in chain.varnishes:
        assert request(node.http_port, path, headers=through_gateway(SITE)).header("X-Magento-Cache-Debug") == "HIT"
    # Magento sends one PURGE per http_cache_hosts entry: every replica's purge listener
    for node in chain.varnishes:
        assert request(node.purge_port, "/", method="PURGE", headers=purge, source=ALLOWED_PURGER).status == 200
    for node in chain.varnishes:
        assert request(node.http_port, path, headers=through_gateway(SITE)).header("X-Magento-Cache-Debug") == "MISS"
    # an untagged page survives the tag purge
    request(chain.varnishes[0].http_port, "/cms/kept", headers=through_gateway(SITE))
    request(chain.varnishes[0].purge_port, "/", method="PURGE", headers=purge, source=ALLOWED_PURGER)
    kept = request(chain.varnishes[0].http_port, "/cms/kept", headers=through_gateway(SITE))
    assert kept.header("X-Magento-Cache-Debug") == "HIT"


def test_sql_injection_blocked_in_blocking_mode_and_only_logged_in_detection_mode(chain: Chain) -> None:
    blocked = get(chain, SQLI, "blocking")
    assert blocked.status == 403
    before = len(chain.php_hits())
    logged = get(chain, SQLI, "detection-only")
    assert logged.status == 200 and len(chain.php_hits()) == before + 1
    deadline = time.monotonic() + 5
    while "942" not in chain.audit_log("detection-only") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"942' in chain.audit_log("detection-only")  # a CRS SQL-injection rule matched and was logged


def test_admin_path_refused_outside_the_allow_list_in_both_modes(chain: Chain) -> None:
    for mode in ("blocking", "detection-only"):
        assert get(chain, "/backoffice/", mode).status == 403
        assert get(chain, "/backoffice/dashboard", mode, **{"X-Forwarded-For": "198.51.100.9"}).status == 403
        allowed = get(chain, "/backoffice/", mode, **{"X-Forwarded-For": "203.0.113.5"})
        assert allowed.status == 200 and allowed.json()["remote_addr"] == "203.0.113.5"


def test_scanner_user_agents_denied(chain: Chain) -> None:
    # our reviewed deny list denies in every mode; CRS scanner detection scores it too in blocking mode
    for mode in ("blocking", "detection-only"):
        assert get(chain, "/", mode, **{"User-Agent": "sqlmap/1.8.3#stable (https://sqlmap.org)"}).status == 403
    assert get(chain, "/", "blocking", **{"User-Agent": "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None)"}).status == 403
    assert get(chain, "/", "blocking", **{"User-Agent": "curl/8.5.0"}).status == 200


def test_login_is_rate_limited_per_client_at_the_waf(chain: Chain) -> None:
    statuses = [
        request(chain.wafs["blocking"], "/customer/account/loginPost/", method="POST", body=b"login[username]=a",
                headers={**through_gateway(SITE, client="198.51.100.77"), "Content-Type": "application/x-www-form-urlencoded"}).status
        for _ in range(10)
    ]
    assert 429 in statuses and statuses[0] == 200
    # another client is not affected
    assert get(chain, "/customer/account/login/", **{"X-Forwarded-For": "198.51.100.78"}).status == 200


def test_static_files_are_served_without_php(chain: Chain) -> None:
    before = len(chain.php_hits())
    for path in (f"/{STATIC_FILE}", f"/static/version1733140000/{STATIC_FILE.removeprefix('static/')}"):
        resp = get(chain, path)
        assert resp.status == 200 and resp.body.decode() == STATIC_BODY
        assert resp.header("X-Magento-Cache-Debug") == "UNCACHEABLE" or resp.header("X-Magento-Cache-Debug") == "MISS"
        assert "public" in (resp.header("Cache-Control") or "")
    assert get(chain, "/static/frontend/missing.css").status == 404
    assert len(chain.php_hits()) == before  # not one request reached PHP


def test_health_endpoints(chain: Chain) -> None:
    assert request(chain.nginx_port, "/nginx-health").status == 200
    assert request(chain.nginx_port, "/health_check.php", headers={"Host": SITE.domains[0]}).body == b"ok\n"
    assert request(chain.wafs["blocking"], "/healthz").status == 200


def test_maintenance_at_varnish_lets_only_the_allow_list_through(chain: Chain) -> None:
    node = chain.add_maintenance_varnish(["203.0.113.0/28"])
    # the WAF sets X-Real-IP to the client it believed; Varnish decides on that
    outside = request(node.http_port, "/", headers={**through_gateway(SITE), "X-Real-IP": "198.51.100.7"})
    assert outside.status == 503 and outside.header("Retry-After") == "300"
    assert b"back shortly" in outside.body
    inside = request(node.http_port, "/", headers={**through_gateway(SITE), "X-Real-IP": "203.0.113.5"})
    assert inside.status == 200 and inside.json()["forwarded_proto"] == "https"
    assert request(node.http_port, "/health_check.php", headers={"Host": SITE.domains[0]}).status == 200


def test_behind_a_cdn_the_client_is_the_address_before_the_cdn(chain: Chain) -> None:
    port = chain.add_waf("blocking", cdn_cidrs=["192.0.2.0/24"], name="behind-cdn")
    # the CDN (192.0.2.10) appended the shopper; Envoy appended the CDN
    headers = {**through_gateway(SITE), "X-Forwarded-For": "203.0.113.5, 192.0.2.10"}
    page = request(port, "/backoffice/", headers=headers)
    assert page.status == 200 and page.json()["real_ip"] == "203.0.113.5"  # allow-listed shopper, not the CDN
    # without the CDN's ranges trusted, the same request is the CDN's address: refused by the allow-list
    assert request(chain.wafs["blocking"], "/backoffice/", headers=headers).status == 403


def test_magento_exclusions_let_rest_and_graphql_through_in_blocking_mode(chain: Chain) -> None:
    json_headers = {**through_gateway(SITE), "Content-Type": "application/json"}
    port = chain.wafs["blocking"]
    # REST: JSON bodies and PUT/DELETE (exclusion 1020); the same verb elsewhere is refused by the CRS
    body = b'{"cartItem": {"sku": "24-MB01", "qty": 1, "quote_id": "abc"}}'
    assert request(port, "/rest/default/V1/carts/mine/items", method="PUT", body=body, headers=json_headers).status == 200
    assert request(port, "/catalog/product/view/id/1", method="PUT", body=body, headers=json_headers).status == 403
    # GraphQL: code-like query documents (exclusion 1030), while an injection in a normal field is still blocked
    query = b'{"query": "{ products(search: \\"select union\\", filter: {sku: {eq: \\"24-MB01\\"}}) { items { name sku } } }"}'
    assert request(port, "/graphql", method="POST", body=query, headers=json_headers).status == 200
    assert get(chain, SQLI).status == 403
    # the same requests without the exclusions are refused: the exclusions are what lets them through
    bare = SITE.model_copy(update={"edge": SITE.edge.model_copy(update={"waf": SITE.edge.waf.model_copy(update={"exclusions": []})})})
    strict = chain.add_waf("blocking", name="no-exclusions", site=bare)
    assert request(strict, "/rest/default/V1/carts/mine/items", method="PUT", body=body, headers=json_headers).status == 403
    assert request(strict, "/graphql", method="POST", body=query, headers=json_headers).status == 403
