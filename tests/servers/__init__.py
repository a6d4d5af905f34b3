"""Real servers from Debian's packages, started by tests on loopback in a temporary directory.

Each server module (`mariadb.py`, `redis.py`, `nginx.py`, ...) starts one server with the configuration
the program generates, waits until it answers, and stops it when the test ends. A missing binary fails
the test with the package to install (never a skip): `.ci/run` installs every package these tests use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 30.0  # seconds a server may take to start answering


def require_binary(name: str, package: str, *, extra_paths: Sequence[str] = ("/usr/sbin", "/sbin")) -> str:
    """The path of a server binary; fails (not skips) the test naming the Debian package when it is missing."""
    found = shutil.which(name) or next((str(Path(d) / name) for d in extra_paths if (Path(d) / name).exists()), None)
    if found is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (.ci/run installs it)", pytrace=False)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = START_TIMEOUT, process: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on host:port (fails early when the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class Server:
    """A started server process; `stop()` ends it and its children (it runs in its own process group)."""

    name: str
    process: subprocess.Popen
    log: Path
    ports: dict[str, int] = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(name: str, argv: Sequence[str], workdir: Path, *, env: dict[str, str] | None = None) -> Server:
    """Start argv in its own process group with stdout and stderr in `<workdir>/<name>.log`."""
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        list(argv), cwd=workdir, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    handle.close()
    return Server(name, process, log)
