"""What the WAF pods read: CRS settings as environment, Magento exclusions and bot rules, per-client limits.

The image (`owasp/modsecurity-crs`, nginx on Debian, see components/versions.py for the tag and where it
was seen) renders its nginx and ModSecurity configuration from environment variables when it starts, into
`/etc/nginx`, `/etc/modsecurity.d` and `/opt/owasp-crs`. Only the writable variant is published (read-only
images stopped with modsecurity-crs-docker commit 6230042), so to keep a read-only root filesystem an init
container copies those three trees from the image into emptyDirs (`init_copy_script()`), and the WAF
container mounts the emptyDirs over the same paths: the image finds its own files and may write them.

Ours, mounted where the image reads them:

* `RULES_FILE` at `RULES_MOUNT` (`exclusion_rules(site)`): loaded before the CRS (the CRS includes
  `rules/*.conf` in order): the site's Magento exclusions, the admin allow-list (the WAF enforces it too,
  not only the Gateway), and the reviewed user-agent deny list (`DENIED_USER_AGENTS`);
* `LIMITS_FILE` at `LIMITS_MOUNT` (`rate_limits_conf(site, trusted_proxies=...)`): nginx `http`-level
  client address (from X-Forwarded-For, before ModSecurity runs) and per-client limits, stricter than the
  Gateway's, on search, cart and login (`CLIENT_LIMITS`); answered with 429.

The forwarded scheme is passed on with the image's own `NGINX_X_FORWARDED_PROTO` (set to the Gateway's
header) instead of replacing its proxy template. CRS scanner detection (rules 913xxx) stays on: no
exclusion here removes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from components.config.model import Site

RULES_FILE = "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
LIMITS_FILE = "zz-magento-client-limits.conf"
RULES_MOUNT = f"/opt/owasp-crs/rules/{RULES_FILE}"
LIMITS_MOUNT = f"/etc/nginx/conf.d/{LIMITS_FILE}"
WAF_PORT = 8080
# Trees the image renders or edits at start: copied from the image into emptyDirs by the init container.
CONFIG_TREES = {
    "nginx-home": "/etc/nginx",
    "modsecurity-conf": "/etc/modsecurity.d",
    "crs": "/opt/owasp-crs",
}
# Scratch paths written while serving (emptyDirs, created empty; /tmp gets the image's modsecurity dirs).
SCRATCH_PATHS = {
    "tmp": "/tmp",
    "modsecurity-log": "/var/log/modsecurity",
    # nginx's compiled-in temp paths (client bodies above the buffer, proxied responses): the image's
    # nginx.conf template sets none, so large admin uploads are buffered here
    "nginx-cache": "/var/cache/nginx",
}
SEED_ROOT = "/seed"  # where the init container sees the emptyDirs

_BASE_METHODS = "GET HEAD POST OPTIONS"

# Reviewed user-agent deny list: attack and mass-scanning tools that no shopper or integration sends.
# Each entry is matched case-insensitively as a substring (@pm). Review rule: add a tool only when its
# default user agent is seen in the audit log probing stores; never add a search engine or a client library
# that integrations use (curl, python-requests, Go-http-client, Java, Guzzle).
DENIED_USER_AGENTS: tuple[str, ...] = (
    "sqlmap", "nikto", "nmap", "masscan", "zgrab", "nuclei", "wpscan", "dirbuster", "gobuster",
    "feroxbuster", "ffuf", "wfuzz", "acunetix", "netsparker", "havij", "jorgee", "commix", "openvas",
)


@dataclass(frozen=True)
class ClientLimit:
    """A per-client-address request rate on one family of Magento endpoints (nginx limit_req)."""

    name: str
    path_regex: str  # matched against $uri
    per_minute: int
    burst: int


# Stricter than the Gateway's per-replica limits: one client address, across the WAF pod's workers.
CLIENT_LIMITS: tuple[ClientLimit, ...] = (
    ClientLimit("search", r"^/(catalogsearch/|search/ajax/suggest)", per_minute=60, burst=20),
    ClientLimit("cart", r"^/checkout/cart/(add|updatePost|delete)", per_minute=30, burst=10),
    ClientLimit("login", r"^/(customer/account/loginPost|customer/account/createpost|rest/[^/]+/V1/integration/customer/token)", per_minute=10, burst=5),
)


def trusted_proxies(pod_cidr: str, cdn_cidrs: tuple[str, ...] | list[str] = ()) -> str:
    """The proxies whose X-Forwarded-For the WAF believes: Envoy (the pod network) and, with a CDN in front,
    the CDN's ranges (`edge.trustedProxyCidrs`); otherwise every client behind the CDN would be the CDN's
    address to the admin allow-list and the per-client limits."""
    return ",".join([pod_cidr, *cdn_cidrs])


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
        # TLS ends at the Gateway: pass its scheme and port on (the image's default is its own `$scheme`,
        # http, which sends Magento into an HTTPS redirect loop), and never redirect here.
        "NGINX_X_FORWARDED_PROTO": "$http_x_forwarded_proto",
        "NGINX_X_FORWARDED_PORT": "443",
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


def _admin_allow_list(site: Site) -> list[str]:
    cidrs = site.edge.admin_allow_cidrs
    if not cidrs:
        return ["# admin allow-list: none configured (the admin path is open to every client)"]
    return [
        "# admin allow-list: the admin path only from these client networks (also enforced at the Gateway).",
        "# Denied in detection-only mode too: this is access control, not anomaly scoring.",
        f'SecRule REQUEST_FILENAME "@rx ^/{site.edge.admin_path}(/|$)" \\',
        '    "id:1100,phase:1,deny,status:403,log,t:none,ctl:ruleEngine=On,\\',
        "    msg:'Magento admin path outside the allow-list',tag:'magento/admin-allow-list',chain\"",
        f'    SecRule REMOTE_ADDR "!@ipMatch {",".join(cidrs)}" "t:none"',
    ]


def _denied_agents() -> list[str]:
    return [
        "# bot rules: the reviewed user-agent deny list (sites/waf_config.py DENIED_USER_AGENTS), denied in",
        "# every mode; CRS scanner detection (913xxx) scores the rest in the anomaly score.",
        f'SecRule REQUEST_HEADERS:User-Agent "@pm {" ".join(DENIED_USER_AGENTS)}" \\',
        '    "id:1110,phase:1,deny,status:403,log,t:none,t:lowercase,ctl:ruleEngine=On,\\',
        "    msg:'Denied user agent: %{MATCHED_VAR}',tag:'magento/bot-deny-list'\"",
    ]


def exclusion_rules(site: Site) -> str:
    """ModSecurity rules loaded before the CRS: allow-list, bot deny list, one block per configured exclusion."""
    lines = [f"# Magento rules for site {site.name} (generated by sites/waf_config.py; see docs/edge.md). Start in",
             "# detection-only and tune the exclusions from the audit log before switching the site to blocking.",
             "", *_admin_allow_list(site), "", *_denied_agents()]
    builders = {"admin": lambda: _admin_rules(site.edge.admin_path), "rest": _rest_rules, "graphql": _graphql_rules}
    for name in site.edge.waf.exclusions:
        lines += ["", *builders[name]()]
    return "\n".join(lines) + "\n"


def rate_limits_conf(site: Site, *, trusted_proxies: str, limits: tuple[ClientLimit, ...] = CLIENT_LIMITS) -> str:
    """nginx `http`-level client address and per-client limits (the image's nginx.conf includes conf.d/*.conf).

    The client address is set here, at http level, and not only by the image's proxy include: that include
    sits inside `location /`, where nginx applies it after ModSecurity has run (the rewrite phase), so
    ModSecurity's REMOTE_ADDR would be the Gateway's pod (the request-chain test shows it). A request
    outside a limit's paths has an empty key, which nginx does not count.
    """
    real_ip = [f"set_real_ip_from {cidr.strip()};" for cidr in trusted_proxies.split(",")]
    lines = [f"# Client address and per-client limits of site {site.name} (generated by sites/waf_config.py)",
             *real_ip, "real_ip_header X-Forwarded-For;", "real_ip_recursive on;", "",
             "limit_req_status 429;", "limit_req_log_level warn;"]
    for limit in limits:
        var = f"$magento_limit_{limit.name}"
        lines += [
            "",
            f"map $uri {var} {{",
            f'    "~{limit.path_regex}" $binary_remote_addr;',
            '    default "";',
            "}",
            f"limit_req_zone {var} zone=magento_{limit.name}:10m rate={limit.per_minute}r/m;",
            f"limit_req zone=magento_{limit.name} burst={limit.burst} nodelay;",
        ]
    return "\n".join(lines) + "\n"


def init_copy_script(root: str = "") -> str:
    """The init container's script: the image's configuration trees into the emptyDirs the WAF mounts over them.

    `root` prefixes every path (tests run the script on a copy of the trees in a temporary directory).
    """
    seed = f"{root}{SEED_ROOT}"
    lines = ["set -eu"]
    for volume, path in CONFIG_TREES.items():
        lines.append(f"cp -a {root}{path}/. {seed}/{volume}/")
    lines += [
        # the image creates these at build time under /tmp, which is an emptyDir at run time
        f"mkdir -p {seed}/tmp/modsecurity/data {seed}/tmp/modsecurity/upload {seed}/tmp/modsecurity/tmp",
        f"mkdir -p {seed}/modsecurity-log/audit",
    ]
    return "\n".join(lines) + "\n"


def checksum(*parts: dict[str, str]) -> str:
    """A digest of the configuration, put on the pod template so that a change rolls the pods."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
