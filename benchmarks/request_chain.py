"""The request chain's overhead, measured in one run on this machine (loopback only).

Starts the real-server chain of tests/servers/chain.py (WAF: nginx + ModSecurity + CRS in blocking mode ->
two Varnish with our VCL -> our nginx.conf -> PHP-FPM with our pool, a front controller standing in for
Magento) and a bare nginx serving one static file, then drives each with Locust (benchmarks/chain_locustfile.py,
no think time) and prints requests per second and p50/p95 latency for:

- cache hits through the whole chain (WAF + Varnish),
- cache misses through the whole chain (WAF + Varnish + nginx + PHP-FPM),
- the bare static nginx,

and the ratios of the chain's latencies to the bare nginx's. The load generator shares the CPUs with the
servers, so the figures are relative (overhead of our tiers), not the capacity of a server.

Run: .venv/bin/python benchmarks/request_chain.py [--seconds 15] [--users 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.config.model import Site
from loadtest.run import run
from tests.servers import free_port, require_binary, start, wait_for_port
from tests.servers.chain import request, running_chain, through_gateway

SITE = Site.model_validate({"name": "bench", "domains": ["shop.example.com"],
                            "image": {"repository": "harbor.example.com/sites/bench", "tag": "1.0.0"}})
LOCUSTFILE = Path(__file__).resolve().parent / "chain_locustfile.py"

STATIC_NGINX = """daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {work}/www;
        location / {{ try_files $uri =404; }}
    }}
}}
"""


def bare_nginx(work: Path):
    port = free_port()
    (work / "www").mkdir(parents=True)
    (work / "www" / "styles.css").write_text("body{color:#333}\n")
    for path, mode in ((work, 0o755), (work / "www", 0o755), (work / "www" / "styles.css", 0o644)):
        path.chmod(mode)  # nginx's workers run as nobody when this runs as root
    conf = work / "nginx.conf"
    conf.write_text(STATIC_NGINX.format(work=work, port=port))
    server = start("static-nginx", [require_binary("nginx", "nginx"), "-c", str(conf), "-p", str(work)], work)
    wait_for_port(port, process=server.process)
    return server, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=8)
    args = parser.parse_args(argv)
    rows = {}
    with running_chain(SITE) as chain, tempfile.TemporaryDirectory() as tmp:
        static, port = bare_nginx(Path(tmp))
        try:
            request(chain.wafs["blocking"], "/", headers=through_gateway(SITE))  # warm the page into Varnish
            for label, user, host, gateway in (("cache hits (chain)", "CacheHit", chain.url(), True),
                                               ("cache misses (chain)", "CacheMiss", chain.url(), True),
                                               ("bare static nginx", "Static", f"http://127.0.0.1:{port}", False)):
                result = run(host, users=args.users, seconds=args.seconds, user_class=user, locustfile=LOCUSTFILE,
                             site_host=SITE.domains[0] if gateway else "", as_gateway=gateway)
                if result.failures or not result.rows:
                    print(f"{label}: the run failed its checks: {result.failures[:3]}\n{result.output}", file=sys.stderr)
                    return 1
                rows[label] = result.total
        finally:
            static.stop()
    print(f"{'':<22} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for label, row in rows.items():
        print(f"{label:<22} {row.requests:>9} {row.rps:>8.0f} {row.p50_ms:>7.0f} {row.p95_ms:>7.0f}")
    base = rows["bare static nginx"]
    for label in ("cache hits (chain)", "cache misses (chain)"):
        row = rows[label]
        print(f"{label}: p50 {row.p50_ms / max(base.p50_ms, 1):.1f}x, p95 {row.p95_ms / max(base.p95_ms, 1):.1f}x, "
              f"throughput {row.rps / base.rps:.2f}x of the bare static nginx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
