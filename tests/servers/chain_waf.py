"""The WAF tier of the request chain (tests/servers/chain.py): Debian nginx + ModSecurity v3 + CRS 3.3 with
the program's WAF files, around them an nginx configuration that mimics the image's templates.

From the program (sites/waf_config.py): the Magento rules file (allow-list, bot deny list, exclusions), the
client address and limits file, and the environment the pods get, which `crs_settings` turns into the
`SecAction`s the image's entrypoint writes (CRS 3.3 names). Mimicked, because the image's entrypoint does not
run here: its nginx.conf/default.conf/proxy include, rendered with that environment (`waf_nginx_conf`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from components.config.model import Site
from sites import waf_config
from tests.servers import free_port, require_binary
from tests.servers.chain import CRS_RULES, CRS_SETUP, MODSEC_MODULE, MODSEC_RECOMMENDED, _own, _start_as, _write

if TYPE_CHECKING:
    from tests.servers.chain import Chain

# CRS 3.3 names of the settings the image's entrypoint writes from the environment (configure-rules.v3).
_CRS3_SETTINGS = {
    "BLOCKING_PARANOIA": ("900000", ["paranoia_level"]),
    "DETECTION_PARANOIA": ("900001", ["executing_paranoia_level"]),
    "ANOMALY_INBOUND": ("900110", ["inbound_anomaly_score_threshold"]),
    "ANOMALY_OUTBOUND": ("900111", ["outbound_anomaly_score_threshold"]),
    "ALLOWED_METHODS": ("900200", ["allowed_methods"]),
}


def crs_settings(env: Mapping[str, str]) -> str:
    """The SecActions the image's entrypoint derives from the WAF's environment, for CRS 3.3."""
    lines = ["# CRS settings from the WAF pod's environment (what the image's configure-rules step writes)"]
    for key, (rule_id, names) in _CRS3_SETTINGS.items():
        value = env[key]
        sets = ",".join(f"setvar:'tx.{name}={value}'" for name in names)
        lines.append(f'SecAction "id:{rule_id},phase:1,nolog,pass,t:none,{sets}"')
    return "\n".join(lines) + "\n"


def waf_nginx_conf(env: Mapping[str, str], *, port: int, upstreams: Sequence[int], rules_file: Path, limits: Path, temp: Path, log_dir: Path) -> str:
    """The image's nginx.conf, default.conf and proxy include, rendered with the pod's environment."""
    real_ip = "".join(f"            set_real_ip_from {cidr};\n" for cidr in env["SET_REAL_IP_FROM"].split(","))
    servers = "".join(f"        server 127.0.0.1:{p};\n" for p in upstreams)
    return f"""load_module {MODSEC_MODULE};
worker_processes 1;
pid {temp}/nginx.pid;
error_log {log_dir}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {log_dir}/access.log;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server_tokens {env["SERVER_TOKENS"]};
    port_in_redirect off;
    # conf.d/*.conf of the image: our per-client limits
    include {limits};
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    # the Service in front of the Varnish pods
    upstream varnish_service {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port} default_server;
        set $always_redirect {env["NGINX_ALWAYS_TLS_REDIRECT"]};
        modsecurity on;
        modsecurity_rules_file {rules_file};
        location / {{
            client_max_body_size 0;
            if ($always_redirect = on) {{
                return 301 https://$host$request_uri;
            }}
            proxy_set_header Host $host;
            proxy_set_header Proxy "";
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header {env["REAL_IP_PROXY_HEADER"]} $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Port {env["NGINX_X_FORWARDED_PORT"]};
            proxy_set_header X-Forwarded-Proto {env["NGINX_X_FORWARDED_PROTO"]};
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_connect_timeout 60s;
            proxy_read_timeout {env["PROXY_TIMEOUT"]};
            proxy_redirect off;
            proxy_pass_header Authorization;
            proxy_pass http://varnish_service;
{real_ip}            real_ip_header {env["REAL_IP_HEADER"]};
            real_ip_recursive {env["REAL_IP_RECURSIVE"]};
        }}
        location /healthz {{
            access_log off;
            return 200 "OK";
        }}
    }}
}}
"""


def start_waf(chain: Chain, mode: str, *, key: str | None = None, cdn_cidrs: tuple[str, ...] = (), site: Site | None = None) -> int:
    """Start a WAF in `mode` in front of the chain's Varnish pair (the test client stands for Envoy on 127.0.0.1)."""
    base = site or chain.site
    site = base.model_copy(update={"edge": base.edge.model_copy(update={"waf": base.edge.waf.model_copy(update={"mode": mode})})})
    trusted = waf_config.trusted_proxies("127.0.0.1/32", cdn_cidrs)
    env = waf_config.waf_environment(site, backend="http://varnish_service", trusted_proxies=trusted)
    work = chain.workdir / f"waf-{key or mode}"
    temp = work / "tmp"
    temp.mkdir(parents=True)
    rules = _write(work / waf_config.RULES_FILE, waf_config.exclusion_rules(site))
    limits = _write(work / waf_config.LIMITS_FILE, waf_config.rate_limits_conf(site, trusted_proxies=trusted))
    settings = _write(work / "crs-settings.conf", crs_settings(env))
    main = _write(
        work / "modsecurity.conf",
        "\n".join([
            f"Include {MODSEC_RECOMMENDED}",
            f"SecRuleEngine {env['MODSEC_RULE_ENGINE']}",
            f"SecAuditEngine {env['MODSEC_AUDIT_ENGINE']}",
            f"SecAuditLog {work / 'audit.log'}",
            "SecAuditLogFormat JSON",
            f"SecTmpDir {temp}",
            f"SecDataDir {temp}",
            f"Include {CRS_SETUP}",
            f"Include {settings}",
            f"Include {rules}",
            f"Include {CRS_RULES}/*.conf",
            "",
        ]),
    )
    port = free_port()
    conf = _write(
        work / "nginx.conf",
        waf_nginx_conf(env, port=port, upstreams=[n.http_port for n in chain.varnishes], rules_file=main, limits=limits, temp=temp, log_dir=work),
    )
    _own(work, chain._user)
    nginx_bin = require_binary("nginx", "nginx")
    chain.servers.append(
        _start_as(f"waf-{key or mode}", [nginx_bin, "-e", "stderr", "-p", str(work), "-c", str(conf), "-g", "daemon off;"], chain.workdir, chain._user, port)
    )
    return port
