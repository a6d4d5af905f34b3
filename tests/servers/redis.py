"""Debian's redis-server (it speaks Valkey's protocol and ACLs) on loopback, and a minimal RESP client.

`start_redis(workdir, config_text)` writes the configuration, forces the listener onto 127.0.0.1 and a free
port (the lines appended last win), starts the server and waits until it answers. `Client` sends commands
and returns replies; error replies come back as `RespError` values, so a test can assert on a refusal.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers import START_TIMEOUT, Server, free_port, require_binary, start, wait_for_port


class RespError(str):
    """An error reply (`-ERR ...`, `-NOPERM ...`, `-WRONGPASS ...`)."""


def start_redis(name: str, workdir: Path, config_text: str, *, sentinel: bool = False, port: int | None = None) -> Server:
    binary = require_binary("redis-server", "redis-server")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"{name}.conf"
    conf.write_text(config_text + f"\nport {port}\nbind 127.0.0.1\ndaemonize no\nlogfile \"\"\n")
    argv = [binary, str(conf)] + (["--sentinel"] if sentinel else [])
    server = start(name, argv, workdir)
    server.ports["tcp"] = port
    try:
        wait_for_port(port, process=server.process)
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        raise RuntimeError(f"{name} did not start: {exc}\n{server.log_text()}") from None
    return server


@dataclass
class Client:
    port: int
    host: str = "127.0.0.1"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, *args: str | bytes | int) -> object:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(payload)
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return data

    def _reply(self) -> object:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exact(size).decode(errors="replace")
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ValueError(f"unexpected reply {line!r}")


def info(client: Client, section: str) -> dict[str, str]:
    text = client.call("INFO", section)
    assert isinstance(text, str) and not isinstance(text, RespError), text
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def wait_until(predicate, timeout: float = START_TIMEOUT, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
