"""Magento storefront flows for Locust: `locust -f loadtest/locustfile.py --host https://www.example.fr`.

Weights (a browsing-heavy storefront; Magento's performance toolkit and most shops' analytics put
catalog browsing far ahead of checkout):

| flow | weight | what it does | checks |
| --- | ---: | --- | --- |
| home | 20 | GET / | 200, a page body |
| category | 25 | GET a category page | 200 |
| product | 25 | GET a product page | 200 |
| search | 10 | GET /catalogsearch/result/?q=<term> | 200 |
| add to cart | 10 | product page, POST /checkout/cart/add/ | 200 or a redirect, never a cached answer |
| guest checkout | 5 | cart, /checkout/, the success page (placing an order needs the store's test payment method: not included) | 200 or a redirect, never a cached answer |
| customer login | 5 | GET the login form, POST loginPost | 200 or a redirect, or 429 past the login rate limit |

Every response also fails its check on a 5xx, and a private page (cart, checkout, customer) fails if a
shared cache served it (`X-Magento-Cache-Debug: HIT`). The target comes from `--host`. For a target
behind no Gateway (the loopback chain, `benchmarks/request_chain.py`), `--site-host <domain>` sends the
store's Host and `--as-gateway` adds what Envoy adds (X-Forwarded-Proto: https, X-Forwarded-For).
Paths come from `--category-path`, `--product-path` and `--search-terms` (defaults suit Luma sample data).
"""

from __future__ import annotations

import random

import gevent
from locust import HttpUser, between, events, stats, task
from locust.exception import StopUser

PRIVATE = ("/checkout", "/customer")


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--site-host", default="", help="Host header to send (the store's domain) when --host is an address")
    parser.add_argument("--as-gateway", action="store_true", default=False,
                        help="add X-Forwarded-Proto: https and X-Forwarded-For as the Gateway does (targets behind no Gateway)")
    parser.add_argument("--category-path", default="/gear.html", help="a category page of the store")
    parser.add_argument("--product-path", default="/joust-duffle-bag.html", help="a product page of the store")
    parser.add_argument("--product-id", default="1", help="the product's entity id (for add to cart)")
    parser.add_argument("--search-terms", default="bag,shirt,watch,yoga,jacket", help="comma-separated search terms")
    parser.add_argument("--iterations", type=int, default=0,
                        help="EveryFlow: stop each user after this many rounds of every flow, and the run once all have (0: no limit)")


def check(response, *, private: bool = False, allowed: tuple[int, ...] = (200,)) -> None:
    """Fail the request (it counts as a failure in Locust's statistics) unless it passed the flow's checks."""
    if response.status_code not in allowed:
        response.failure(f"status {response.status_code}, expected {allowed}")
    elif private and response.headers.get("X-Magento-Cache-Debug") == "HIT":
        response.failure("a private page was served from the shared cache")
    elif response.status_code == 200 and not response.content:
        response.failure("empty body")
    else:
        response.success()


class Storefront(HttpUser):
    """The flows, as plain methods: Locust collects every `@task` of a base class into its subclasses, so the
    weights live on Shopper alone and EveryFlow inherits none of them."""

    abstract = True
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.headers = {"User-Agent": "Mozilla/5.0 (magento-platform loadtest)"}
        if options is not None and options.site_host:
            self.headers["Host"] = options.site_host
        if options is not None and options.as_gateway:
            self.headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": f"198.51.100.{random.randint(1, 254)}"})
        self.options = options

    def get(self, path: str, name: str, **kwargs):
        return self.client.get(path, headers=self.headers, name=name, catch_response=True, allow_redirects=False, **kwargs)

    def post(self, path: str, name: str, data: dict, **kwargs):
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        return self.client.post(path, data=data, headers=headers, name=name, catch_response=True, allow_redirects=False, **kwargs)

    def home(self) -> None:
        with self.get("/", "home") as r:
            check(r)

    def category(self) -> None:
        with self.get(self.options.category_path, "category") as r:
            check(r)

    def product(self) -> None:
        with self.get(self.options.product_path, "product") as r:
            check(r)

    def search(self) -> None:
        term = random.choice(self.options.search_terms.split(","))
        with self.get(f"/catalogsearch/result/?q={term}", "search") as r:
            check(r)

    def add_to_cart(self) -> None:
        with self.get(self.options.product_path, "add to cart: product") as r:
            check(r)
        data = {"product": self.options.product_id, "qty": "1", "form_key": "loadtest"}
        with self.post(f"/checkout/cart/add/product/{self.options.product_id}/", "add to cart: post", data) as r:
            check(r, private=True, allowed=(200, 302, 303))

    def guest_checkout(self) -> None:
        with self.get("/checkout/cart/", "checkout: cart") as r:
            check(r, private=True)
        with self.get("/checkout/", "checkout: page") as r:
            check(r, private=True, allowed=(200, 302))
        with self.get("/checkout/onepage/success/", "checkout: success page") as r:
            check(r, private=True, allowed=(200, 302))

    def customer_login(self) -> None:
        with self.get("/customer/account/login/", "login: form") as r:
            check(r, private=True)
        data = {"login[username]": "loadtest@example.com", "login[password]": "not-a-real-password", "form_key": "loadtest"}
        with self.post("/customer/account/loginPost/", "login: post", data) as r:
            check(r, private=True, allowed=(200, 302, 303, 429))


class Shopper(Storefront):
    """Load runs: the weights of the table above."""

    tasks = {Storefront.home: 20, Storefront.category: 25, Storefront.product: 25, Storefront.search: 10,
             Storefront.add_to_cart: 10, Storefront.guest_checkout: 5, Storefront.customer_login: 5}


FLOWS = (Storefront.home, Storefront.category, Storefront.product, Storefront.search, Storefront.add_to_cart,
         Storefront.guest_checkout, Storefront.customer_login)


REQUESTS_PER_ITERATION = 11  # what one round of FLOWS sends (add to cart 2, checkout 3, login 2, the others 1)
_finished: list[int] = []  # users of this process done with their --iterations


class EveryFlow(Storefront):
    """Every flow once per iteration, in order, and nothing else: CI runs this class (`tests/test_loadtest.py`)
    so that each flow's checks run within a bounded number of requests; load runs use Shopper's weights.
    With `--iterations N` each user stops after N rounds and the run ends when every user has: at most
    users x N x REQUESTS_PER_ITERATION requests, whatever the run time (`-t` still bounds the time)."""

    rounds = 0

    @task
    def every_flow(self) -> None:
        for flow in FLOWS:
            flow(self)
        self.rounds += 1
        limit = self.options.iterations if self.options is not None else 0
        if limit and self.rounds >= limit:
            _finished.append(1)
            runner = self.environment.runner
            if runner is not None and len(_finished) >= runner.target_user_count:
                # from outside this user's greenlet (quit() kills it), once the CSV writer has written the
                # last round (it writes every CSV_STATS_INTERVAL_SEC; quitting writes nothing more)
                gevent.spawn_later(stats.CSV_STATS_INTERVAL_SEC + 1, runner.quit)
            raise StopUser()
