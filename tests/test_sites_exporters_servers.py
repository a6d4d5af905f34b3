"""The stores' exporters against real servers (Debian's), with the configuration files the program generates.

nginx (our nginx.conf), PHP-FPM (our pool) and two Varnish (our VCL) start on loopback as in the request
chain (tests/servers/chain.py, without the WAF). Then:

* nginx: stub_status answers on the loopback status server and not on the public server; Debian's
  prometheus-nginx-exporter (0.11; the pod runs 1.5.3, same flags and metric names), started with the
  sidecar's own arguments, turns it into the nginx_* series the rules and dashboards use;
* PHP-FPM: the pool answers its status page over FastCGI (`cgi-fcgi`, Debian libfcgi-bin) on
  pm.status_listen, in the JSON php-fpm_exporter asks for (`?json&full`: the fields its phpfpm_* series come
  from), also while every child is busy (then the pool's own port makes the request wait), and nginx does not
  pass it through. hipages' php-fpm_exporter has no Debian package: the exporter itself is not run here;
* Varnish: `varnishstat` reads the running varnishd's working directory as varnishd's user (what the
  sidecar shares), and Debian's prometheus-varnish-exporter (1.6.1, jonnenauha's; the pod runs otto-de's
  fork 1.8.3 on Varnish 7.7, same metric names), started with the sidecar's arguments, exports the
  varnish_main_* series, counting a cache hit it saw.

Left untested here: the pods' images themselves (no container engine), the read-only mount of the workdir
in the Varnish exporter (needs a mount namespace; varnishstat opens the VSM read-only), Varnish 7.7's and
nginx 1.30's own output (Debian has 7.1 and 1.22).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from components.config.model import Site
from components.platform.observability.exporters import EXPORTERS
from sites import exporters
from sites.runtime import nginx as nginx_runtime
from sites.runtime import php_fpm as fpm_runtime
from tests.servers import chain as chain_mod
from tests.servers import free_port, require_binary
from tests.servers.chain import Chain, request, through_gateway

SITE = Site.model_validate(
    {"name": "demo", "domains": ["shop.example.com"], "image": {"repository": "harbor.example.com/sites/demo", "tag": "2026.12.1"}}
)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    running = chain_mod.start_chain(SITE, waf_modes=())
    try:
        yield running
    finally:
        running.stop()


def scrape(port: int) -> dict[str, float]:
    """The exporter's /metrics as {series name without labels: value of its first sample}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples.setdefault(series.split("{", 1)[0], float(value))
    return samples


def used_metrics(exporter: str) -> set[str]:
    """The metrics of `exporter` that the alert rules or dashboards use (tests/test_observability_rules.py holds
    the table to exactly those)."""
    return set(EXPORTERS[exporter].metrics)


# ------------------------------------------------------------------------------------------------ nginx


def test_stub_status_answers_on_the_loopback_status_server_only(chain: Chain) -> None:
    status = request(chain.nginx_status_port, nginx_runtime.STATUS_PATH)
    assert status.status == 200 and status.body.startswith(b"Active connections:"), status
    public = request(chain.nginx_port, nginx_runtime.STATUS_PATH, headers=through_gateway(SITE))
    assert b"Active connections" not in public.body and b"server accepts handled requests" not in public.body
    assert request(chain.nginx_status_port, "/index.php").status == 404  # nothing else on the status server


def test_nginx_exporter_turns_stub_status_into_the_series_the_rules_use(chain: Chain) -> None:
    binary = require_binary("prometheus-nginx-exporter", "prometheus-nginx-exporter")
    port = free_port()
    args = exporters.nginx_exporter_args(status_address=f"127.0.0.1:{chain.nginx_status_port}", listen=f"127.0.0.1:{port}")
    chain.start_beside("nginx-exporter", [binary, *args], port)
    for _ in range(3):
        request(chain.nginx_port, "/nginx-health")
    samples = scrape(port)
    assert used_metrics("nginx-exporter") <= set(samples), sorted(samples)
    assert samples["nginx_up"] == 1
    assert samples["nginx_http_requests_total"] >= 3


# ---------------------------------------------------------------------------------------------- PHP-FPM


def fastcgi(port: int, path: str, query: str = "", *, timeout: float = 10.0) -> str:
    """One FastCGI request (cgi-fcgi, what php-fpm_exporter sends: SCRIPT_NAME and SCRIPT_FILENAME = the path)."""
    binary = require_binary("cgi-fcgi", "libfcgi-bin", extra_paths=("/usr/bin",))
    env = {"SCRIPT_NAME": path, "SCRIPT_FILENAME": path, "REQUEST_METHOD": "GET", "QUERY_STRING": query}
    done = subprocess.run([binary, "-bind", "-connect", f"127.0.0.1:{port}"], env=env, capture_output=True, timeout=timeout, check=True)
    return done.stdout.decode()


def test_the_pool_answers_its_status_page_over_fastcgi_on_the_status_listener(chain: Chain) -> None:
    text = fastcgi(chain.fpm_status_port, fpm_runtime.FPM_STATUS_PATH, "json&full")
    headers, _, body = text.replace("\r\n", "\n").partition("\n\n")
    assert "application/json" in headers, text[:300]
    status = json.loads(body)
    assert status["pool"] == fpm_runtime.POOL_NAME
    # the fields php-fpm_exporter reads for the series the rules and dashboards use
    fields = {"phpfpm_active_processes": "active processes", "phpfpm_total_processes": "total processes",
              "phpfpm_max_children_reached": "max children reached", "phpfpm_listen_queue": "listen queue",
              "phpfpm_slow_requests": "slow requests"}
    assert set(fields) == used_metrics("php-fpm-exporter")
    for field in fields.values():
        assert isinstance(status[field], int), field
    assert status["total processes"] >= 1 and isinstance(status["processes"], list)


def test_the_status_listener_answers_while_every_child_is_busy(chain: Chain) -> None:
    """Why the exporter asks pm.status_listen and not the pool's own port: with every child busy, a status
    request on the pool's port waits in its queue, while the hidden status pool answers at once and shows it."""
    pool = chain_mod.sizing.fpm_pool(chain_mod.FPM_RESOURCES, chain_mod.FPM_CHILD_MB)
    slow = chain.docroot / "pub" / "slow.php"
    slow.write_text("<?php usleep(7000000); echo 'done';\n")
    slow.chmod(0o644)
    binary = require_binary("cgi-fcgi", "libfcgi-bin", extra_paths=("/usr/bin",))
    env = {"SCRIPT_NAME": "/slow.php", "SCRIPT_FILENAME": str(slow), "REQUEST_METHOD": "GET", "QUERY_STRING": ""}
    busy = [subprocess.Popen([binary, "-bind", "-connect", f"127.0.0.1:{chain.fpm_port}"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL) for _ in range(pool.max_children + 1)]
    try:
        deadline = time.monotonic() + 8  # dynamic pm forks children about once a second up to max_children
        while True:
            started = time.monotonic()
            status = json.loads(fastcgi(chain.fpm_status_port, fpm_runtime.FPM_STATUS_PATH, "json", timeout=1.0)
                                .replace("\r\n", "\n").partition("\n\n")[2])
            assert time.monotonic() - started < 1.0
            saturated = status["active processes"] == pool.max_children and status["max children reached"] >= 1
            if (saturated and status["listen queue"] >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # what PhpFpmSaturated, PhpFpmMaxChildrenReached and PhpFpmListenQueue alert on
        assert status["active processes"] == status["total processes"] == pool.max_children, status
        assert status["max children reached"] >= 1 and status["listen queue"] >= 1, status
        with pytest.raises(subprocess.TimeoutExpired):  # the same page on the pool's own port waits for a child
            fastcgi(chain.fpm_port, fpm_runtime.FPM_STATUS_PATH, "json", timeout=1.0)
    finally:
        for process in busy:
            process.communicate(timeout=30)  # the queued one waits for a child: up to 2 x 7 s
    assert all(p.returncode == 0 for p in busy)


def test_nginx_never_passes_the_status_page_to_php_fpm(chain: Chain) -> None:
    for path in (fpm_runtime.FPM_STATUS_PATH, f"{fpm_runtime.FPM_STATUS_PATH}?json", fpm_runtime.FPM_PING_PATH):
        resp = request(chain.nginx_port, path, headers=through_gateway(SITE))
        assert b"process manager" not in resp.body and b"pong" not in resp.body, (path, resp.body[:200])


# ---------------------------------------------------------------------------------------------- Varnish


def test_varnishstat_reads_the_running_varnish_from_its_working_directory(chain: Chain) -> None:
    node = chain.varnishes[0]
    argv = [require_binary("varnishstat", "varnish", extra_paths=("/usr/bin",)), "-n", str(node.workdir), "-j"]
    if chain._user is not None:  # as varnishd's user: the VSM files are 0640
        import pwd

        entry = pwd.getpwnam(chain._user)
        argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv]
    done = subprocess.run(argv, capture_output=True, timeout=10, check=True)
    stats = json.loads(done.stdout)
    counters = stats.get("counters", stats)  # 7.x: {"version": 1, "counters": {...}}
    assert {"MAIN.cache_hit", "MAIN.cache_miss", "MAIN.backend_fail", "MAIN.n_lru_nuked"} <= set(counters)


def test_varnish_exporter_exports_the_series_the_rules_use_and_counts_a_hit(chain: Chain) -> None:
    binary = require_binary("prometheus-varnish-exporter", "prometheus-varnish-exporter")
    node = chain.varnishes[1]
    port = free_port()
    args = exporters.varnish_exporter_args(workdir=str(node.workdir), listen=f"127.0.0.1:{port}")
    chain.start_beside("varnish-exporter", [binary, *args], port)
    for _ in range(2):
        assert request(node.http_port, "/cms/exporter-hit", headers=through_gateway(SITE)).status == 200
    deadline = time.monotonic() + 10
    samples = scrape(port)
    while samples.get("varnish_main_cache_hit", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)  # varnishd publishes its counters to the VSM about once a second
        samples = scrape(port)
    assert used_metrics("varnish-exporter") <= set(samples), sorted(samples)
    assert samples["varnish_main_cache_hit"] >= 1 and samples["varnish_main_cache_miss"] >= 1
