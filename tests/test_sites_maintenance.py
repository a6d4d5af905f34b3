"""Maintenance at the Varnish tier, on a real varnishd (Debian `varnish`, 7.1 here; production runs 7.6):
the generated maintenance VCL in front of the generated Magento VCL, a stand-in backend on loopback.
Outside the allowed networks a client gets 503 with Retry-After; an allowed client reaches the backend."""

from __future__ import annotations

import http.client
import http.server
import os
import threading
from pathlib import Path

import pytest

from components.config import validate
from sites.maintenance import maintenance_vcl
from sites.runtime.varnish import varnish_vcl, varnishd_args
from tests.layer_helpers import stack_values
from tests.servers import free_port, require_binary, start, wait_for_port


class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"storefront"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path):
    varnishd = require_binary("varnishd", "varnish")
    values = stack_values("prod")
    values["sites"][0]["release"] = {"maintenance": True, "maintenanceAllowCidrs": ["203.0.113.0/28"]}
    site = validate(values).sites[0]
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    thread = threading.Thread(target=backend.serve_forever, daemon=True)
    thread.start()
    # The program's VCL, with the backend on loopback instead of the nginx Service.
    magento = tmp_path / "magento.vcl"
    magento.write_text(varnish_vcl(site, backend_host="127.0.0.1", backend_port=backend.server_address[1], purge_acl=["127.0.0.1/32"]))
    main = tmp_path / "default.vcl"
    main.write_text(maintenance_vcl(site, str(magento)))
    http_port, purge_port = free_port(), free_port()
    args = varnishd_args(site.tiers.varnish.resources.memory_limit, http_listen=f"127.0.0.1:{http_port}",
                         purge_listen=f"127.0.0.1:{purge_port}")
    # As root varnishd would switch to the `varnish` user (unix jail), which cannot read pytest's 0700
    # directories; the pod runs it unprivileged, where no user switch happens either.
    jail = ["-j", "none"] if os.geteuid() == 0 else []
    server = start("varnishd", [varnishd, "-F", *jail, "-f", str(main), "-n", str(tmp_path / "work"), *args], tmp_path)
    try:
        wait_for_port(http_port, process=server.process)
        yield http_port
    finally:
        server.stop()
        backend.shutdown()


def get(port: int, client: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/", headers={"Host": "www.example.fr", "X-Forwarded-For": client, "X-Forwarded-Proto": "https"})
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def test_clients_outside_the_allow_list_get_the_maintenance_page(store):
    response = get(store, "198.51.100.7")
    assert response.status == 503
    assert response.getheader("Retry-After") == "300"
    assert b"being updated" in response.body  # type: ignore[attr-defined]


def test_allowed_clients_reach_the_store(store):
    response = get(store, "203.0.113.5, 10.244.1.7")
    assert response.status == 200
    assert response.body == b"storefront"  # type: ignore[attr-defined]
