"""Locust users for benchmarks/request_chain.py: one fixed request each, no think time.

CacheHit asks for the same storefront page (Varnish answers after the first), CacheMiss for a page no one
asked for before (a unique query string: Varnish misses, PHP serves), Static for a static file on a bare
nginx. Each checks that it got what it measures (`X-Magento-Cache-Debug`), so a run whose hits were not hits
fails instead of reporting the wrong figure.
"""

from __future__ import annotations

import itertools
import os

from locust import FastHttpUser, constant, events, task

_counter = itertools.count()


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--site-host", default="", help="the store's domain")
    parser.add_argument("--as-gateway", action="store_true", default=False, help="add what Envoy adds")


class _Bench(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.headers = {"User-Agent": "Mozilla/5.0 (magento-platform benchmark)"}
        if options.site_host:
            self.headers["Host"] = options.site_host
        if options.as_gateway:
            self.headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.10"})


class CacheHit(_Bench):
    @task
    def hit(self) -> None:
        with self.client.get("/", headers=self.headers, name="hit", catch_response=True) as r:
            if r.status_code != 200 or r.headers.get("X-Magento-Cache-Debug") not in ("HIT", "MISS"):
                r.failure(f"status {r.status_code}, cache {r.headers.get('X-Magento-Cache-Debug')}")


class CacheMiss(_Bench):
    @task
    def miss(self) -> None:
        path = f"/catalog/product/view/id/{os.getpid()}{next(_counter)}"
        with self.client.get(path, headers=self.headers, name="miss", catch_response=True) as r:
            if r.status_code != 200 or r.headers.get("X-Magento-Cache-Debug") != "MISS":
                r.failure(f"status {r.status_code}, cache {r.headers.get('X-Magento-Cache-Debug')}")


class Static(_Bench):
    @task
    def static(self) -> None:
        with self.client.get("/styles.css", headers=self.headers, name="static", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
