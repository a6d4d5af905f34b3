"""Why the PHP-FPM pod stops with the image's STOPSIGNAL SIGQUIT after a preStop sleep, and not the runtime's
default SIGTERM: the real php-fpm with our generated php-fpm.conf on loopback, a request in flight, then the
signal. SIGQUIT lets the child finish the request (the client gets the whole response) and then the master
exits; SIGTERM ends the child at once (the client gets no response). The preStop hook no longer sends the
signal itself (sites/php_fpm.py STOP), so this is the whole of the graceful stop.
"""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

import pytest

from components import sizing
from components.config import validate
from sites.runtime import php_fpm
from tests.layer_helpers import stack_values
from tests.servers import free_port
from tests.servers.chain import FPM_CHILD_MB, FPM_RESOURCES, _own, _start_as, _unprivileged, _write, fpm_binary

REQUEST_SECONDS = 3
SLOW_PHP = f"<?php\nusleep({REQUEST_SECONDS} * 1000000);\necho 'request finished';\n"


def _record(kind: int, body: bytes, request_id: int = 1) -> bytes:
    padding = -len(body) % 8
    return struct.pack(">BBHHBx", 1, kind, request_id, len(body), padding) + body + b"\0" * padding


def _pair(name: str, value: str) -> bytes:
    def length(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    return length(len(name)) + length(len(value)) + name.encode() + value.encode()


def fastcgi_get(port: int, script: Path, result: dict[str, object]) -> None:
    """One FastCGI responder request (what nginx's fastcgi_pass sends, reduced): result['stdout'], ['complete']."""
    params = {"SCRIPT_FILENAME": str(script), "SCRIPT_NAME": "/" + script.name, "REQUEST_METHOD": "GET",
              "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1"}
    stdout, complete = b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(_record(1, struct.pack(">HB5x", 1, 0)) + _record(4, b"".join(_pair(k, v) for k, v in params.items()))
                     + _record(4, b"") + _record(5, b""))
        buffer = b""
        while not complete:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break  # closed without END_REQUEST: the request was dropped
            buffer += chunk
            while len(buffer) >= 8:
                _, kind, _, length, padding = struct.unpack(">BBHHBx", buffer[:8])
                if len(buffer) < 8 + length + padding:
                    break
                body, buffer = buffer[8:8 + length], buffer[8 + length + padding:]
                if kind == 6:
                    stdout += body
                elif kind == 3:
                    complete = True
    result.update(stdout=stdout.decode(errors="replace"), complete=complete)


@pytest.mark.parametrize("stop_signal", [signal.SIGQUIT, signal.SIGTERM], ids=["SIGQUIT", "SIGTERM"])
def test_sigquit_finishes_the_request_in_flight_and_sigterm_drops_it(stop_signal: signal.Signals):
    tmp_path = Path(tempfile.mkdtemp(prefix="fpm-stop-"))  # under /tmp: the server may run as nobody (chain.py)
    site = validate(stack_values("prod")).sites[0]
    port, status_port = free_port(), free_port()
    pool = sizing.fpm_pool(FPM_RESOURCES, FPM_CHILD_MB)
    conf = _write(tmp_path / "fpm" / "php-fpm.conf", php_fpm.fpm_conf(
        site, pool, listen=f"127.0.0.1:{port}", status_listen=f"127.0.0.1:{status_port}", error_log=str(tmp_path / "fpm" / "fpm.log")))
    ini = _write(tmp_path / "fpm" / "php.ini", php_fpm.php_ini(site, pool))
    script = _write(tmp_path / "www" / "slow.php", SLOW_PHP)
    user = _unprivileged()
    _own(tmp_path, user)
    server = _start_as("php-fpm", [fpm_binary(), "-F", "-y", str(conf), "-c", str(ini)], tmp_path, user, port)
    try:
        result: dict[str, object] = {}
        client = threading.Thread(target=fastcgi_get, args=(port, script, result))
        client.start()
        time.sleep(1)  # the child is inside the request
        server.process.send_signal(stop_signal)  # what the runtime sends the container's PID 1 after preStop
        client.join(timeout=30)
        assert not client.is_alive()
        exit_code = server.process.wait(timeout=30)
        if stop_signal == signal.SIGQUIT:
            assert result["complete"] and "request finished" in str(result["stdout"]), (result, server.log_text())
            assert exit_code == 0
        else:
            assert not result["complete"] and "request finished" not in str(result["stdout"]), result
    finally:
        server.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)
