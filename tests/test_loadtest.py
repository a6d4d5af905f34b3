"""The Locust storefront profile against the real-server request chain on loopback (tests/servers/chain.py):
every flow runs and passes its checks, bounded in time and requests."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from components.config.model import Site
from loadtest.run import run
from tests.servers.chain import Chain, running_chain

SITE = Site.model_validate({"name": "demo", "domains": ["shop.example.com"],
                            "image": {"repository": "harbor.example.com/sites/demo", "tag": "2026.12.1"}})
FLOWS = {"home", "category", "product", "search", "add to cart: product", "add to cart: post", "checkout: cart",
         "checkout: page", "checkout: success page", "login: form", "login: post"}
USERS, SECONDS, ITERATIONS = 6, 20, 3
# one round of every flow: home, category, product, search, add to cart 2, checkout 3, login 2 (locustfile.py's
# REQUESTS_PER_ITERATION; not imported: importing Locust patches this process with gevent)
REQUESTS_PER_ITERATION = 11


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain(SITE) as running:
        yield running


def test_every_storefront_flow_passes_its_checks_through_the_chain(chain: Chain) -> None:
    started = time.monotonic()
    result = run(chain.url(), users=USERS, seconds=SECONDS, site_host=SITE.domains[0], as_gateway=True, user_class="EveryFlow",
                 extra=["--iterations", str(ITERATIONS)])
    elapsed = time.monotonic() - started
    assert result.failures == [], result.output
    assert result.code == 0, result.output
    ran = {name for name, row in result.rows.items() if row.requests}
    assert ran >= FLOWS, (FLOWS - ran, result.output)
    # bounded in requests (--iterations) and in time (-t): every flow ran, nothing else did (no weighted task of
    # the load profile leaks in), at most ITERATIONS rounds per user; a round a slow request kept past the time
    # bound is cut short, so the counts differ by at most one round per user
    counts = {name: result.rows[name].requests for name in FLOWS}
    assert max(counts.values()) <= USERS * ITERATIONS and max(counts.values()) - min(counts.values()) <= USERS, counts
    assert 0 < result.total.requests <= USERS * ITERATIONS * REQUESTS_PER_ITERATION
    assert elapsed < SECONDS + 30, elapsed
    assert all(row.failures == 0 for row in result.rows.values())
    assert len(chain.php_hits()) > 0  # the requests went through Varnish to PHP, not only to a cache


def test_a_failing_check_is_reported(chain: Chain) -> None:
    # category and product paths the WAF refuses (an SQL-injection probe, blocking mode): every iteration
    # requests them
    probe = "/catalogsearch/result/?q=1%27%20UNION%20SELECT%20password%20FROM%20admin_user--"
    result = run(chain.url(), users=2, seconds=4, site_host=SITE.domains[0], as_gateway=True, user_class="EveryFlow",
                 extra=["--product-path", probe, "--category-path", probe])
    assert result.code != 0
    assert any(f.split(": ")[0] in ("product", "category", "add to cart: product") and "status 403" in f
               for f in result.failures), result.failures


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    """A storefront that answers every page 200, but the home page with no body and the cart from the shared cache."""

    def do_GET(self) -> None:
        body = b"" if self.path == "/" else b"<html>page</html>"
        self.send_response(200)
        if self.path.startswith("/checkout/cart/"):
            self.send_header("X-Magento-Cache-Debug", "HIT")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503 if self.path.startswith("/customer/") else 302)
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_each_kind_of_check_fails_its_request() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run(f"http://127.0.0.1:{server.server_address[1]}", users=1, seconds=20, user_class="EveryFlow",
                     extra=["--iterations", "1"])
    finally:
        server.shutdown()
        server.server_close()
    failures = {f.split(" (x")[0] for f in result.failures}
    assert result.code != 0
    assert failures == {
        "home: CatchResponseError('empty body')",
        "checkout: cart: CatchResponseError('a private page was served from the shared cache')",
        "login: post: CatchResponseError('status 503, expected (200, 302, 303, 429)')",
    }, result.failures
    assert result.total.requests == REQUESTS_PER_ITERATION  # one round, then the run stopped by itself
