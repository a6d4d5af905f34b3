"""The Locust storefront profile against the real-server request chain on loopback (tests/servers/chain.py):
every flow runs and passes its checks, bounded in time and requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.config.model import Site
from loadtest.run import run
from tests.servers.chain import Chain, running_chain

SITE = Site.model_validate({"name": "demo", "domains": ["shop.example.com"],
                            "image": {"repository": "harbor.example.com/sites/demo", "tag": "2026.12.1"}})
FLOWS = {"home", "category", "product", "search", "add to cart: product", "add to cart: post", "checkout: cart",
         "checkout: page", "checkout: success page", "login: form", "login: post"}
USERS, SECONDS = 6, 12


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain(SITE) as running:
        yield running


def test_every_storefront_flow_passes_its_checks_through_the_chain(chain: Chain) -> None:
    result = run(chain.url(), users=USERS, seconds=SECONDS, site_host=SITE.domains[0], as_gateway=True, user_class="EveryFlow")
    assert result.failures == [], result.output
    assert result.code == 0, result.output
    ran = {name for name, row in result.rows.items() if row.requests}
    assert ran >= FLOWS, (FLOWS - ran, result.output)
    # every flow once per iteration and nothing else (no weighted task of the load profile leaks in): the
    # counts differ only by the iterations the stop interrupted, at most one per user
    counts = {name: result.rows[name].requests for name in FLOWS}
    assert max(counts.values()) - min(counts.values()) <= USERS, counts
    # bounded: an iteration is 13 requests and waits at least 0.5 s
    assert 0 < result.total.requests <= USERS * 13 * (SECONDS / 0.5 + 1)
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
