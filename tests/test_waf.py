"""The WAF tier under mocks: the read-only root that still lets the image render its configuration, our files
mounted where the image reads them, and the bot rules (deny list, scanner detection, client limits)."""

from __future__ import annotations

from components import versions
from sites import waf_config
from tests.test_site_edge import default_prod, obj, with_edge


def _pod() -> dict:
    return obj(default_prod(), "Deployment", "waf")["spec"]["template"]["spec"]


def test_pinned_tag_is_the_published_debian_variant_with_its_evidence() -> None:
    pin = versions.image("modsecurity-crs")
    assert pin.tag == "4.28.0-nginx-202607160307"
    assert "alpine" not in pin.tag and "read-only" not in pin.tag
    assert "release/20260716" in pin.seen


def test_init_container_copies_the_image_configuration_into_the_emptydirs() -> None:
    pod = _pod()
    (seed,) = pod["initContainers"]
    (waf,) = pod["containers"]
    assert seed["image"] == waf["image"]  # the same image: it copies its own trees
    assert seed["securityContext"]["readOnlyRootFilesystem"] is True
    script = seed["command"][-1]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    seed_mounts = {m["name"]: m["mountPath"] for m in seed["volumeMounts"]}
    waf_mounts = {m["name"]: m["mountPath"] for m in waf["volumeMounts"] if m["name"] in empty_dirs}
    for volume, path in waf_config.CONFIG_TREES.items():
        # copied from the image path into the emptyDir, which the WAF container then mounts over that path
        assert f"cp -a {path}/. {seed_mounts[volume]}/" in script
        assert waf_mounts[volume] == path
    assert "mkdir -p /seed/tmp/modsecurity/data" in script  # what the image made under /tmp at build time
    # nginx's compiled-in temp paths are writable (client bodies above the buffer)
    assert waf_mounts["nginx-cache"] == "/var/cache/nginx"


def test_our_files_are_mounted_where_the_image_reads_them() -> None:
    (waf,) = _pod()["containers"]
    files = {m["mountPath"]: m["subPath"] for m in waf["volumeMounts"] if m["name"] == "waf-files"}
    # CRS 4 includes rules/*.conf in order, so REQUEST-900 loads before every CRS rule;
    # the image's nginx.conf includes conf.d/*.conf inside http {}.
    assert files == {
        "/opt/owasp-crs/rules/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf": "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf",
        "/etc/nginx/conf.d/zz-magento-client-limits.conf": "zz-magento-client-limits.conf",
    }


def test_bot_rules_deny_list_and_scanner_detection_stay_on() -> None:
    rules = obj(default_prod(), "ConfigMap", "waf-files")["data"][waf_config.RULES_FILE]
    assert "id:1110" in rules and "sqlmap" in rules and "nikto" in rules
    for library in ("curl", "python-requests", "Go-http-client", "Guzzle"):
        assert library.lower() not in " ".join(waf_config.DENIED_USER_AGENTS)
    # nothing removes the CRS scanner-detection rules (913xxx) or their tag
    for removal in ("ruleRemoveById=913", "SecRuleRemoveById 913", "reputation-scanner"):
        assert removal not in rules


def test_client_limits_on_search_cart_and_login() -> None:
    limits = obj(default_prod(), "ConfigMap", "waf-files")["data"][waf_config.LIMITS_FILE]
    for name in ("search", "cart", "login"):
        assert f"zone=magento_{name}:10m" in limits
    assert "limit_req_status 429;" in limits
    by_name = {limit.name: limit for limit in waf_config.CLIENT_LIMITS}
    assert by_name["login"].per_minute < by_name["cart"].per_minute < by_name["search"].per_minute


def test_admin_allow_list_is_enforced_at_the_waf_too() -> None:
    rules = obj(with_edge(adminPath="backoffice", adminAllowCidrs=["203.0.113.0/24"]), "ConfigMap", "waf-files")["data"][waf_config.RULES_FILE]
    assert '"@rx ^/backoffice(/|$)"' in rules and '"!@ipMatch 203.0.113.0/24"' in rules
    open_admin = obj(with_edge(adminPath="backoffice"), "ConfigMap", "waf-files")["data"][waf_config.RULES_FILE]
    assert "id:1100" not in open_admin and "none configured" in open_admin
