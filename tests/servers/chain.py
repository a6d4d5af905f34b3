"""A site's request chain on real servers, with the configuration files the program generates.

    client -> WAF (Debian nginx + ModSecurity v3 + CRS) -> 2 x Varnish (our VCL) -> nginx (our nginx.conf)
           -> PHP-FPM (our pool + php.ini) -> a small front controller standing in for Magento

`start_chain(site)` starts everything on loopback ports in a fresh temporary directory and returns a
`Chain`; `chain.add_waf(mode)` starts another WAF (e.g. detection-only) in front of the same Varnish pair;
`chain.stop()` stops every server and removes the directory. The capacity engineer's load profile and smoke
checks reuse it (`Chain.url`, `Chain.request`, `Chain.php_hits`).

What is ours and what stands in for production:

* nginx.conf, the FPM pool, php.ini and the VCL are the program's text (sites/runtime/*), with only
  addresses and paths changed (loopback ports, the temporary directory);
* the WAF (tests/servers/chain_waf.py): its Magento rules file and client limits are the program's text (sites/waf_config.py); the CRS
  settings come from the same environment the pods get (waf_environment), turned into the `SecAction`
  the image's entrypoint would write; the nginx around them mimics the image's templates (server on
  PORT, the proxy include with NGINX_X_FORWARDED_PROTO, real IP from X-Forwarded-For). The image's own
  templates are not run: they need its entrypoint;
* Envoy is not here: the test client sends what Envoy adds (X-Forwarded-Proto, X-Forwarded-For).

Debian's versions differ from production (PHP 8.2, Varnish 7.1, nginx 1.22, ModSecurity 3.0.9, CRS 3.3):
tests/test_request_chain.py's docstring lists what that leaves untested.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from components import sizing
from components.config.base import sized
from components.config.model import Site
from sites.runtime import nginx, php_fpm, varnish
from tests.servers import Server, free_port, require_binary, start, wait_for_port

ALLOWED_PURGER = "127.0.0.2"  # the address the site's PHP pods purge from (the Varnish purge ACL)
OUTSIDER = "127.0.0.3"  # any other address
REQUEST_TIMEOUT = 5.0
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
MODSEC_RECOMMENDED = Path("/etc/nginx/modsecurity.conf")  # libnginx-mod-http-modsecurity's recommended base
MODSEC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")

NGINX_RESOURCES = sized("100m", "128Mi", "1", "256Mi")
FPM_RESOURCES = sized("250m", "512Mi", "1", "1Gi")
FPM_CHILD_MB = 64
VARNISH_MEMORY_LIMIT = "512Mi"

STATIC_FILE = "static/frontend/Magento/luma/en_US/css/styles-m.css"
STATIC_BODY = "body{color:#333}\n"

# The front controller standing in for Magento: it redirects plain-HTTP requests to HTTPS as Magento does
# with secure URLs, trusts X-Forwarded-Proto as Magento's offloader header, marks pages public (cacheable)
# except customer and checkout, tags them for purges, and counts every PHP request it serves.
INDEX_PHP = r"""<?php
$secure = (($_SERVER['HTTPS'] ?? '') === 'on') || (($_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '') === 'https');
file_put_contents(__DIR__ . '/../var/php-hits.log', $_SERVER['REQUEST_URI'] . "\n", FILE_APPEND | LOCK_EX);
if (!$secure) {
    header('Location: https://' . $_SERVER['HTTP_HOST'] . $_SERVER['REQUEST_URI'], true, 301);
    exit;
}
$uri = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (preg_match('#^/(checkout|customer)#', $uri)) {
    header('Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0');
} else {
    header('Cache-Control: public, max-age=86400, s-maxage=86400');
    header('X-Magento-Tags: store,cms_p_1,cat_p_' . (preg_match('#product/(\d+)#', $uri, $m) ? $m[1] : '0'));
}
header('Content-Type: application/json');
echo json_encode([
    'uri' => $_SERVER['REQUEST_URI'],
    'forwarded_proto' => $_SERVER['HTTP_X_FORWARDED_PROTO'] ?? null,
    'https' => $_SERVER['HTTPS'] ?? null,
    'remote_addr' => $_SERVER['REMOTE_ADDR'],
    'forwarded_for' => $_SERVER['HTTP_X_FORWARDED_FOR'] ?? null,
    'real_ip' => $_SERVER['HTTP_X_REAL_IP'] ?? null,
    'memory_limit' => ini_get('memory_limit'),
    'opcache' => function_exists('opcache_get_status') && ini_get('opcache.enable') === '1',
    'served_at' => microtime(true),
]);
"""
HEALTH_CHECK_PHP = "<?php\nheader('Content-Type: text/plain');\necho \"ok\\n\";\n"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class VarnishNode:
    name: str
    http_port: int
    purge_port: int
    workdir: Path  # varnishd -n: the VSM the exporter sidecar reads (sites/exporters.py)


@dataclass
class Chain:
    site: Site
    workdir: Path
    docroot: Path
    nginx_port: int
    fpm_port: int
    varnishes: list[VarnishNode]
    wafs: dict[str, int] = field(default_factory=dict)  # mode -> port
    nginx_status_port: int = field(default_factory=free_port)  # stub_status (loopback server of our nginx.conf)
    fpm_status_port: int = field(default_factory=free_port)  # pm.status_listen of our pool
    servers: list[Server] = field(default_factory=list)
    _user: str | None = None

    def url(self, mode: str = "blocking") -> str:
        return f"http://127.0.0.1:{self.wafs[mode]}"

    def php_hits(self) -> list[str]:
        log = self.docroot / "var" / "php-hits.log"
        return log.read_text().splitlines() if log.exists() else []

    def audit_log(self, mode: str) -> str:
        path = self.workdir / f"waf-{mode}" / "audit.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_waf(self, mode: str, *, cdn_cidrs: Sequence[str] = (), name: str | None = None, site: Site | None = None) -> int:
        """Start a WAF in `mode` (blocking | detection-only) in front of the Varnish pair; returns its port.

        `cdn_cidrs` are trusted like the Gateway (a CDN in front); `name` keys it in `wafs` (default: mode);
        `site` replaces the chain's site for this WAF's files (other WAF settings).
        """
        from tests.servers.chain_waf import start_waf  # the WAF half needs this module's helpers

        key = name or mode
        port = start_waf(self, mode, key=key, cdn_cidrs=tuple(cdn_cidrs), site=site)
        self.wafs[key] = port
        return port

    def add_maintenance_varnish(self, allow: Sequence[str]) -> VarnishNode:
        """Start one more Varnish with the VCL of a site in maintenance (not behind the WAFs)."""
        return _start_varnish(self, f"varnish-maintenance-{len(self.servers)}", maintenance_allow=allow)

    def start_beside(self, name: str, argv: Sequence[str], port: int) -> Server:
        """Start another process (an exporter) as the servers' user, wait for `port`; `stop()` ends it too."""
        server = _start_as(name, argv, self.workdir, self._user, port)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.log_text()[-3000:]}" for s in self.servers)


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
) -> Response:
    """One HTTP/1.1 request to 127.0.0.1:port from `source` (a loopback address), bounded in time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def through_gateway(site: Site, client: str = "198.51.100.7", proto: str = "https", **extra: str) -> dict[str, str]:
    """The headers Envoy adds before the WAF: the host, the client address and the original scheme."""
    return {"Host": site.domains[0], "X-Forwarded-For": client, "X-Forwarded-Proto": proto, "User-Agent": "Mozilla/5.0 (chain test)", **extra}


# ---------------------------------------------------------------------------------------------------------


def fpm_binary() -> str:
    """Debian's php-fpm (versioned name: php-fpm8.2 on bookworm, php-fpm8.4 on trixie); fails when missing."""
    found = sorted(Path("/usr/sbin").glob("php-fpm[0-9].[0-9]*"))
    return str(found[-1]) if found else require_binary("php-fpm", "php-fpm")


def _unprivileged() -> str | None:
    """Servers run as `nobody` when the tests run as root (php-fpm refuses root, nginx would drop to nobody)."""
    return "nobody" if os.geteuid() == 0 else None


def _own(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def _start_as(name: str, argv: Sequence[str], workdir: Path, user: str | None, port: int) -> Server:
    if user is None:
        server = start(name, argv, workdir)
    else:
        entry = pwd.getpwnam(user)
        wrapped = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv]
        server = start(name, wrapped, workdir, env={"HOME": str(workdir)})
    try:
        wait_for_port(port, process=server.process)
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        raise RuntimeError(f"{name} did not start: {exc}\n{server.log_text()[-4000:]}") from None
    return server


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _docroot(root: Path) -> Path:
    _write(root / "pub" / "index.php", INDEX_PHP)
    _write(root / "pub" / "health_check.php", HEALTH_CHECK_PHP)
    _write(root / "pub" / STATIC_FILE, STATIC_BODY)
    (root / "var").mkdir(parents=True, exist_ok=True)
    return root


def start_chain(site: Site, *, waf_modes: Sequence[str] = ("blocking",)) -> Chain:
    """Start FPM, nginx, two Varnish and one WAF per mode for `site`; the caller must `stop()` the chain."""
    binaries = {
        "php-fpm": fpm_binary(),
        "nginx": require_binary("nginx", "nginx"),
        "varnishd": require_binary("varnishd", "varnish"),
    }
    for path, package in ((MODSEC_MODULE, "libnginx-mod-http-modsecurity"), (CRS_SETUP, "modsecurity-crs")):
        if not path.exists():
            import pytest

            pytest.fail(f"{path} is missing: apt-get install {package} (.ci/run installs it)", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix=f"chain-{site.name}-"))
    user = _unprivileged()
    chain = Chain(site, workdir, _docroot(workdir / "magento"), free_port(), free_port(), [], _user=user)
    try:
        _start_backend(chain, binaries)
        for mode in waf_modes:
            chain.add_waf(mode)
    except BaseException:
        chain.stop()
        raise
    return chain


def _start_backend(chain: Chain, binaries: dict[str, str]) -> None:
    site, work, user = chain.site, chain.workdir, chain._user
    # PHP-FPM: our pool and php.ini (Debian's conf.d still loads the extensions, as the image's does).
    pool = sizing.fpm_pool(FPM_RESOURCES, FPM_CHILD_MB)
    fpm_conf = _write(work / "fpm" / "php-fpm.conf", php_fpm.fpm_conf(
        site, pool, listen=f"127.0.0.1:{chain.fpm_port}", status_listen=f"127.0.0.1:{chain.fpm_status_port}", error_log=str(work / "fpm" / "fpm.log"),
    ))
    php_ini = _write(work / "fpm" / "php.ini", php_fpm.php_ini(site, pool))
    # nginx: our nginx.conf with the temporary docroot, paths and ports.
    temp = work / "nginx-tmp"
    temp.mkdir()
    nginx_conf = _write(
        work / "nginx" / "nginx.conf",
        nginx.nginx_conf(
            site, fpm_address=f"127.0.0.1:{chain.fpm_port}", resources=NGINX_RESOURCES, trusted_cidrs=["127.0.0.0/8"],
            listen=f"127.0.0.1:{chain.nginx_port}", status_listen=f"127.0.0.1:{chain.nginx_status_port}", mage_root=str(chain.docroot), temp_dir=str(temp),
            access_log=str(work / "nginx" / "access.log"), error_log=str(work / "nginx" / "error.log"),
        ),
    )
    _own(work, user)
    chain.servers.append(_start_as("php-fpm", [binaries["php-fpm"], "-F", "-y", str(fpm_conf), "-c", str(php_ini)], work, user, chain.fpm_port))
    chain.servers.append(
        _start_as("nginx", [binaries["nginx"], "-e", "stderr", "-p", str(work / "nginx"), "-c", str(nginx_conf), "-g", "daemon off;"], work, user, chain.nginx_port)
    )
    for i in range(2):
        chain.varnishes.append(_start_varnish(chain, f"varnish-{i}"))


def _start_varnish(chain: Chain, name: str, *, maintenance_allow: Sequence[str] | None = None) -> VarnishNode:
    """One varnishd with our VCL and arguments, backend the chain's nginx, purges from ALLOWED_PURGER only."""
    work = chain.workdir / name
    work.mkdir()
    vcl = _write(
        work / "default.vcl",
        varnish.varnish_vcl(
            chain.site, backend_host="127.0.0.1", backend_port=chain.nginx_port, purge_acl=[f"{ALLOWED_PURGER}/32"],
            maintenance=maintenance_allow is not None, maintenance_allow=maintenance_allow,
        ),
    )
    _own(work, chain._user)
    node = VarnishNode(name, free_port(), free_port(), work / "n")
    args = varnish.varnishd_args(VARNISH_MEMORY_LIMIT, http_listen=f"127.0.0.1:{node.http_port}", purge_listen=f"127.0.0.1:{node.purge_port}")
    argv = [require_binary("varnishd", "varnish"), "-F", "-n", str(node.workdir), "-f", str(vcl), "-T", "none", *args]
    chain.servers.append(_start_as(name, argv, chain.workdir, chain._user, node.http_port))
    _wait_healthy(chain, node)
    return node


def _wait_healthy(chain: Chain, node: VarnishNode, timeout: float = 20.0) -> None:
    """Until the VCL's probe of health_check.php has marked nginx healthy (pages are then cached with grace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if request(node.http_port, "/health_check.php", headers={"Host": chain.site.domains[0]}).status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{node.name} never answered health_check.php\n{chain.logs()}")


@contextlib.contextmanager
def running_chain(site: Site, *, waf_modes: Sequence[str] = ("blocking",)) -> Iterator[Chain]:
    chain = start_chain(site, waf_modes=waf_modes)
    try:
        yield chain
    finally:
        chain.stop()


if __name__ == "__main__":  # python -m tests.servers.chain: a running chain for load or manual checks
    import signal

    demo = Site.model_validate(
        {"name": "demo", "domains": ["shop.example.com"], "image": {"repository": "harbor.example.com/sites/demo", "tag": "1.0.0"}}
    )
    with running_chain(demo, waf_modes=("blocking",)) as running:
        print(f"WAF {running.url()}  Varnish {[n.http_port for n in running.varnishes]}  nginx {running.nginx_port}")
        print(f"send Host: {demo.domains[0]}, X-Forwarded-Proto: https, X-Forwarded-For: <client>; Ctrl-C stops")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
