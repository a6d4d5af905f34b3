"""What the WAF pods read: CRS settings as environment, Magento rule exclusions, the proxy include.

The image (`owasp/modsecurity-crs`, nginx, read-only-root variant) renders its nginx and ModSecurity
configuration from environment variables at start, copying its writable trees from
`/usr/local/bootstrap` into emptyDirs. Two files are ours, mounted over the bootstrap copies:

* `REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`: the Magento exclusions chosen in the site's config;
* `proxy_backend.conf.template`: the image's proxy include, except that X-Forwarded-Proto and
  X-Forwarded-For are passed on as the Gateway set them (the stock include sets X-Forwarded-Proto to
  the WAF's own `$scheme`, `http`, which sends Magento into an HTTPS redirect loop).
"""

from __future__ import annotations

import hashlib
import json

from components.config.model import Site

RULES_FILE = "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
PROXY_TEMPLATE = "proxy_backend.conf.template"
RULES_MOUNT = f"/usr/local/bootstrap/owasp-crs/rules/{RULES_FILE}"
PROXY_TEMPLATE_MOUNT = f"/usr/local/bootstrap/nginx/templates/includes/{PROXY_TEMPLATE}"
WAF_PORT = 8080
# Paths the image writes at start or while serving (read-only root filesystem: each is an emptyDir).
WRITABLE_PATHS = {
    "nginx-home": "/etc/nginx",
    "modsecurity-conf": "/etc/modsecurity.d",
    "crs": "/opt/owasp-crs",
    "tmp": "/tmp",
    "modsecurity-log": "/var/log/modsecurity",
}

_BASE_METHODS = "GET HEAD POST OPTIONS"


def backend_url(service: str, namespace: str, port: int) -> str:
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


def waf_environment(site: Site, *, backend: str, trusted_proxies: str) -> dict[str, str]:
    """CRS and nginx settings of the image, from the site's WAF settings."""
    waf = site.edge.waf
    return {
        "BACKEND": backend,
        "PORT": str(WAF_PORT),
        "MODSEC_RULE_ENGINE": "On" if waf.mode == "blocking" else "DetectionOnly",
        "BLOCKING_PARANOIA": str(waf.paranoia_level),
        "DETECTION_PARANOIA": str(waf.paranoia_level),
        "ANOMALY_INBOUND": str(waf.anomaly_inbound_threshold),
        "ANOMALY_OUTBOUND": "4",
        "ALLOWED_METHODS": _BASE_METHODS,
        # The client address: the Gateway's X-Forwarded-For, believed only from pod addresses (Envoy).
        "REAL_IP_HEADER": "X-Forwarded-For",
        "SET_REAL_IP_FROM": trusted_proxies,
        "REAL_IP_RECURSIVE": "on",
        "REAL_IP_PROXY_HEADER": "X-Real-IP",
        # TLS ends at the Gateway: never redirect here (that is what causes redirect loops).
        "NGINX_ALWAYS_TLS_REDIRECT": "off",
        "PROXY_TIMEOUT": "300s",
        "MODSEC_AUDIT_ENGINE": "RelevantOnly",
        "MODSEC_AUDIT_LOG": "/dev/stdout",
        "MODSEC_AUDIT_LOG_FORMAT": "JSON",
        "SERVER_TOKENS": "off",
    }


def _admin_rules(admin_path: str) -> list[str]:
    # The admin posts rich HTML (CMS pages and blocks, product descriptions) and widget directives.
    targets = ["content", "description", "short_description", "product[description]", "product[short_description]",
               "general[description]", "block[content]", "page[content]"]
    removals = ",\\\n    ".join(
        f"ctl:ruleRemoveTargetByTag=attack-{tag};ARGS:{arg}" for arg in targets for tag in ("xss", "sqli")
    )
    return [
        "# admin: rich-text fields of the Magento admin",
        f'SecRule REQUEST_FILENAME "@beginsWith /{admin_path}/" \\',
        f'    "id:1010,phase:1,pass,t:none,nolog,\\\n    {removals}"',
    ]


def _rest_rules() -> list[str]:
    return [
        "# rest: JSON bodies and the PUT/PATCH/DELETE verbs of the Magento REST API",
        'SecRule REQUEST_FILENAME "@rx ^/rest/" \\',
        "    \"id:1020,phase:1,pass,t:none,nolog,ctl:requestBodyProcessor=JSON,\\\n"
        f"    setvar:'tx.allowed_methods={_BASE_METHODS} PUT PATCH DELETE'\"",
    ]


def _graphql_rules() -> list[str]:
    removals = ",\\\n    ".join(
        f"ctl:ruleRemoveTargetByTag={tag};ARGS:{arg}"
        for arg in ("query", "json.query")
        for tag in ("attack-sqli", "attack-rce", "attack-injection-generic")
    )
    return [
        "# graphql: query documents are code-like by nature (braces, keywords)",
        'SecRule REQUEST_FILENAME "@streq /graphql" \\',
        f'    "id:1030,phase:1,pass,t:none,nolog,ctl:requestBodyProcessor=JSON,\\\n    {removals}"',
    ]


def exclusion_rules(site: Site) -> str:
    """ModSecurity rules loaded before the CRS: one block per exclusion named in the config."""
    lines = [f"# Magento exclusions for site {site.name} (generated; see docs/edge.md). Start in detection-only",
             "# and tune from the audit log before switching the site to blocking."]
    builders = {"admin": lambda: _admin_rules(site.edge.admin_path), "rest": _rest_rules, "graphql": _graphql_rules}
    for name in site.edge.waf.exclusions:
        lines += ["", *builders[name]()]
    return "\n".join(lines) + "\n"


def proxy_template() -> str:
    """The image's proxy include with the forwarded headers passed through as the Gateway set them."""
    return "\n".join(
        [
            "proxy_set_header Host $host;",
            'proxy_set_header Proxy "";',
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $connection_upgrade;",
            "proxy_set_header ${REAL_IP_PROXY_HEADER} $remote_addr;",
            "# Kept as the Gateway set them: the client chain and the original scheme (https).",
            "proxy_set_header X-Forwarded-For $http_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;",
            "proxy_set_header X-Forwarded-Host $host;",
            "",
            "proxy_http_version 1.1;",
            "proxy_buffering off;",
            "proxy_connect_timeout 60s;",
            "proxy_read_timeout ${PROXY_TIMEOUT};",
            "proxy_redirect off;",
            "",
            "proxy_pass_header Authorization;",
            "proxy_pass ${BACKEND};",
            "",
            "SET_REAL_IP_FROM",
            "real_ip_header ${REAL_IP_HEADER};",
            "real_ip_recursive ${REAL_IP_RECURSIVE};",
            "",
        ]
    )


def checksum(*parts: dict[str, str]) -> str:
    """A digest of the configuration, put on the pod template so that a change rolls the pods."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
