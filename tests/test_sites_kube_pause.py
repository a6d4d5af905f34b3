"""The release Jobs' pause/resume (sites/scripts/kube.php) run by the real php against a stand-in
Kubernetes API on loopback (HTTPS with its own CA, a ServiceAccount directory as the kubelet mounts it):
the exact requests it sends, that it waits until cron and consumers are gone, and that a first release
(no CronJob or ScaledObject yet) passes."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from sites.scripts import HERE
from tests.servers import require_binary


class Api(http.server.BaseHTTPRequestHandler):
    calls: list[tuple[str, str, dict | None, str]] = []
    missing: set[str] = set()
    busy_polls = 0  # GETs that still see a running consumer pod

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("PATCH", self.path, body, self.headers.get("Content-Type", "")))
        if any(self.path.endswith(m) for m in self.missing):
            self._reply(404, {"kind": "Status", "code": 404})
        else:
            self._reply(200, {"kind": "Patched"})

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, None, self.headers.get("Authorization", "")))
        if "/pods" in self.path:
            busy = Api.busy_polls > 0
            Api.busy_polls -= 1
            self._reply(200, {"items": [{"metadata": {"name": "consumer-async-1"}}] if busy else []})
        else:  # cron Jobs: one finished
            self._reply(200, {"items": [{"status": {"active": 0, "succeeded": 1}}]})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path):
    openssl = require_binary("openssl", "openssl", extra_paths=("/usr/bin",))
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("test-token")
    (account / "namespace").write_text("site-shop-fr")
    (account / "ca.crt").write_text(cert.read_text())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Api.calls, Api.missing, Api.busy_polls = [], set(), 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.server_address[1]),
           "SERVICEACCOUNT_DIR": str(account), "CRON_JOB": "cron", "SCALED_OBJECTS": "consumer-async,consumer-export",
           "CRON_SELECTOR": "app.kubernetes.io/name=cron,magento.io/site=shop-fr",
           "CONSUMER_SELECTOR": "magento.io/role=consumer,magento.io/site=shop-fr", "WAIT_SECONDS": "60", "PATH": "/usr/bin:/bin"}
    yield env
    server.shutdown()


def run(env: dict[str, str], action: str) -> subprocess.CompletedProcess:
    php = require_binary("php", "php-cli", extra_paths=("/usr/bin",))
    return subprocess.run([php, str(HERE / "kube.php"), action], env=env, capture_output=True, text=True, timeout=120)


def test_pause_suspends_cron_pauses_consumers_and_waits_until_they_are_gone(api):
    Api.busy_polls = 1
    result = run(api, "pause")
    assert result.returncode == 0, result.stderr
    patches = [(path, body, kind) for method, path, body, kind in Api.calls if method == "PATCH"]
    assert patches == [
        ("/apis/batch/v1/namespaces/site-shop-fr/cronjobs/cron", {"spec": {"suspend": True}}, "application/merge-patch+json"),
        ("/apis/keda.sh/v1alpha1/namespaces/site-shop-fr/scaledobjects/consumer-async",
         {"metadata": {"annotations": {"autoscaling.keda.sh/paused-replicas": "0"}}}, "application/merge-patch+json"),
        ("/apis/keda.sh/v1alpha1/namespaces/site-shop-fr/scaledobjects/consumer-export",
         {"metadata": {"annotations": {"autoscaling.keda.sh/paused-replicas": "0"}}}, "application/merge-patch+json"),
    ]
    gets = [(path, auth) for method, path, _, auth in Api.calls if method == "GET"]
    assert len([p for p, _ in gets if "/pods" in p]) == 2  # it polled again while a consumer pod was left
    assert all(auth == "Bearer test-token" for _, auth in gets)
    assert "labelSelector=magento.io%2Frole%3Dconsumer%2Cmagento.io%2Fsite%3Dshop-fr" in gets[-1][0]
    assert "no cron run and no consumer left" in result.stdout


def test_resume_unsuspends_and_removes_the_pause(api):
    result = run(api, "resume")
    assert result.returncode == 0, result.stderr
    bodies = [body for method, _, body, _ in Api.calls if method == "PATCH"]
    assert bodies[0] == {"spec": {"suspend": False}}
    assert bodies[1:] == [{"metadata": {"annotations": {"autoscaling.keda.sh/paused-replicas": None}}}] * 2
    assert not [c for c in Api.calls if c[0] == "GET"]


def test_a_first_release_pauses_what_does_not_exist_yet(api):
    Api.missing = {"/cronjobs/cron", "/scaledobjects/consumer-async", "/scaledobjects/consumer-export"}
    result = run(api, "pause")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("does not exist yet") == 3


def test_resume_fails_when_the_cronjob_is_missing(api):
    Api.missing = {"/cronjobs/cron"}
    result = run(api, "resume")
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr
