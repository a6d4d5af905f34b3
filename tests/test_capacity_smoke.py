"""The post-deploy smoke check (`python -m ops smoke`) against the real-server request chain on loopback,
passing and failing, its certificate check against a local TLS server, and its backup step."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from components.config.model import Site
from components.config.sites import RateLimit
from ops.__main__ import main
from ops.smoke import Target, smoke
from ops.stack import load
from tests.servers import free_port
from tests.servers.chain import Chain, running_chain

SITE = Site.model_validate({
    "name": "demo", "domains": ["shop.example.com"],
    "image": {"repository": "harbor.example.com/sites/demo", "tag": "2026.12.1"},
    "edge": {"adminPath": "backoffice", "adminAllowCidrs": ["203.0.113.0/28"], "waf": {"mode": "blocking"}},
})
CONFIG = load("prod").model_copy(update={"sites": [SITE]})


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain(SITE, waf_modes=("blocking", "detection-only")) as running:
        yield running


def _by_name(checks):
    return {c.name: c for c in checks}


def test_smoke_passes_against_the_chain(chain: Chain) -> None:
    checks = smoke(CONFIG, Target("127.0.0.1", chain.wafs["blocking"], tls=False, as_gateway=True), backups=False)
    found = _by_name(checks)
    assert [c.status for c in checks] == ["ok"] * 4, "\n".join(map(str, checks))
    assert found["storefront"].detail.startswith("shop.example.com: 200")
    assert found["admin"].detail == "/backoffice/: refused from outside the allow-list (403)"
    assert found["waf"].detail == "SQL-injection probe refused (403, blocking mode)"
    # customer-login is the lowest prefix limit (60/Minute); the WAF's per-client limit answers 429 first
    assert found["rate-limit"].detail.startswith("/customer/account/loginPost: 429 after ")
    sent = int(found["rate-limit"].detail.split(" after ")[1].split()[0])
    assert sent <= 60 * 2 + 5  # bounded by the limit times the Envoy replicas plus the margin


def test_smoke_fails_when_the_waf_does_not_block(chain: Chain) -> None:
    # the stack says blocking; the WAF answering is in detection-only mode: the probe passes
    target = Target("127.0.0.1", chain.wafs["detection-only"], tls=False, as_gateway=True, client="198.51.100.8")
    found = _by_name(smoke(CONFIG, target, backups=False))
    assert found["waf"].status == "fail"
    assert found["waf"].detail.startswith("SQL-injection probe answered 200 in blocking mode")
    assert found["admin"].status == "ok"  # the admin allow-list holds in both modes


def test_smoke_fails_when_the_admin_is_reachable(chain: Chain) -> None:
    inside = Target("127.0.0.1", chain.wafs["blocking"], tls=False, as_gateway=True, client="203.0.113.5")
    found = _by_name(smoke(CONFIG, inside, backups=False))
    assert found["admin"].status == "fail" and "answered 200 from outside the allow-list" in found["admin"].detail


def test_smoke_fails_when_nothing_answers() -> None:
    checks = smoke(CONFIG, Target("127.0.0.1", free_port(), tls=False, timeout=1), backups=False)
    assert len(checks) == 1 and checks[0].status == "fail" and "Connection refused" in checks[0].detail


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """A local HTTPS server with a self-signed certificate for shop.example.com, valid 30 days."""
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                    "-subj", "/CN=shop.example.com", "-addext", "subjectAltName=DNS:shop.example.com",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


def test_certificate_must_verify_for_the_domain_and_not_expire_soon(tls_server) -> None:
    port, cert = tls_server
    trusted = Target("127.0.0.1", port, ca_file=str(cert), timeout=2)
    storefront = smoke(CONFIG, trusted, backups=False)[0]
    assert storefront.status == "ok" and "certificate valid 30 more days" in storefront.detail
    assert smoke(CONFIG, trusted, backups=False, min_cert_days=45)[0].detail.endswith("the certificate expires in 30 days")
    untrusted = smoke(CONFIG, Target("127.0.0.1", port, timeout=2), backups=False)[0]
    assert untrusted.status == "fail" and "the certificate does not verify" in untrusted.detail
    other = CONFIG.model_copy(update={"sites": [SITE.model_copy(update={"domains": ["www.other.example"]})]})
    wrong_name = smoke(other, trusted, backups=False)[0]
    assert wrong_name.status == "fail" and "does not verify" in wrong_name.detail


def test_backups_step_uses_the_verifier() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in CONFIG.backup.buckets.model_dump().values():
            client.create_bucket(Bucket=bucket)
        (check,) = smoke(CONFIG.model_copy(update={"sites": []}), Target("127.0.0.1", 1), s3=client)
    assert check.name == "backups" and check.status == "fail" and "not fresh" in check.detail


def test_smoke_fails_when_no_429_comes_within_the_budget(chain: Chain) -> None:
    # The stack limits /graphql at 10/Minute; nothing in front of the chain enforces that rule (the WAF's own
    # per-client limits cover search, cart and login only), so the budget (10 x 2 Envoy replicas + 5) runs
    # out without a 429: the check fails, naming the path and the limit, after exactly that many requests.
    limited = SITE.model_copy(update={"edge": SITE.edge.model_copy(update={"rate_limits": [
        RateLimit(name="graphql", path="/graphql", requests=10)]})})
    config = CONFIG.model_copy(update={"sites": [limited]})
    before = len(chain.php_hits())
    found = _by_name(smoke(config, Target("127.0.0.1", chain.wafs["blocking"], tls=False, as_gateway=True, client="198.51.100.9"),
                           backups=False))
    assert found["rate-limit"].status == "fail"
    assert found["rate-limit"].detail == "/graphql: no 429 within 25 requests (limit 10/Minute)"
    assert "/graphql" in chain.php_hits()[before:]  # the probes reached the store (Varnish served the repeats)


def test_smoke_warns_instead_of_flooding_past_max_requests(chain: Chain) -> None:
    found = _by_name(smoke(CONFIG, Target("127.0.0.1", chain.wafs["blocking"], tls=False, as_gateway=True, client="198.51.100.10"),
                           backups=False, max_requests=50))
    # customer-login 60/Minute x 2 replicas + 5 = 125 requests: more than allowed, so none is sent
    assert found["rate-limit"].status == "warn"
    assert found["rate-limit"].detail.endswith("would take 125 requests, more than --max-requests 50")


def test_the_command_exits_1_on_a_failed_check_and_2_without_a_target(capsys) -> None:
    # prod's two stores through a closed port: each storefront fails, nothing else is tried
    code = main(["smoke", "--stack", "prod", "--connect", f"127.0.0.1:{free_port()}", "--plain-http", "--timeout", "1",
                 "--skip-backups"])
    out = capsys.readouterr().out
    assert code == 1
    assert [line.split()[:3] for line in out.splitlines()[:2]] == [["FAIL", "shop-fr", "storefront"], ["FAIL", "shop-de", "storefront"]]
    assert out.splitlines()[-1] == "smoke prod: 0 of 2 checks passed, 2 failed"
    # dev has no edge.gatewayAddress: the command says what to give instead of guessing
    assert main(["smoke", "--stack", "dev", "--skip-backups"]) == 2
    assert "no edge.gatewayAddress: give --connect host:port" in capsys.readouterr().err


def test_backups_step_passes_on_fresh_backups(monkeypatch) -> None:
    import datetime as dt

    from components.backups.streams import STREAMS
    from tests import test_verifier

    # the verifier's healthy set (tests/test_verifier.py), written relative to the smoke check's own clock
    monkeypatch.setattr(test_verifier, "NOW", dt.datetime.now(dt.UTC))
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in CONFIG.backup.buckets.model_dump().values():
            client.create_bucket(Bucket=bucket)
        test_verifier.fill_fresh(monkeypatch, client, CONFIG)
        (check,) = smoke(CONFIG.model_copy(update={"sites": []}), Target("127.0.0.1", 1), s3=client)
        assert (check.status, check.detail) == ("ok", f"{len(STREAMS)} stream(s) fresh")
