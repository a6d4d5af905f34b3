"""A MariaDB server (Debian `mariadb-server`) on loopback and a socket in a temporary directory.

`mariadb_server(tmp_path)` initialises a data directory, starts `mariadbd` on a free 127.0.0.1 port with
its socket in the directory, waits until it answers and stops it when the block ends. `run_sql()` runs SQL
through the `mariadb` client (Debian `mariadb-client`), as root over the socket or as a user over TCP.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.servers import START_TIMEOUT, Server, free_port, require_binary, start, wait_for_port

QUERY_TIMEOUT = 30  # seconds one client call may take


@dataclass
class MariaDB:
    server: Server
    socket: Path
    port: int
    client: str

    def run_sql(self, sql: str, *, user: str = "root", password: str | None = None, database: str | None = None) -> subprocess.CompletedProcess:
        """Run SQL with the `mariadb` client (batch mode, tab-separated, no column names); never raises."""
        argv = [self.client, "--no-defaults", "--batch", "--skip-column-names", f"--user={user}"]
        if password is None:
            argv.append(f"--socket={self.socket}")
        else:
            argv += ["--protocol=TCP", "--host=127.0.0.1", f"--port={self.port}"]
        if database:
            argv.append(f"--database={database}")
        env = {**os.environ, "MYSQL_PWD": password} if password is not None else dict(os.environ)
        return subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=QUERY_TIMEOUT, env=env, check=False)

    def query(self, sql: str, **kwargs: str) -> list[list[str]]:
        """Rows of a query that must succeed."""
        result = self.run_sql(sql, **kwargs)
        if result.returncode != 0:
            raise AssertionError(f"SQL failed ({result.returncode}): {result.stderr.strip()}\n{sql}")
        return [line.split("\t") for line in result.stdout.splitlines()]


@contextlib.contextmanager
def mariadb_server(workdir: Path, *, extra_args: Sequence[str] = (), initialise: bool = True) -> Iterator[MariaDB]:
    """`extra_args` are appended to mariadbd's command line (e.g. a one-node Galera cluster); `initialise=False`
    starts from the data directory the caller put in `<workdir>/data` (e.g. a copy of a cleanly stopped one)."""
    mariadbd = require_binary("mariadbd", "mariadb-server")
    install_db = require_binary("mariadb-install-db", "mariadb-server", extra_paths=("/usr/bin", "/usr/sbin"))
    client = require_binary("mariadb", "mariadb-client", extra_paths=("/usr/bin",))
    datadir, socket = workdir / "data", workdir / "mysqld.sock"
    user = ["--user=root"] if os.geteuid() == 0 else []
    if initialise:
        datadir.mkdir()
        subprocess.run(
            [install_db, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=socket",
             "--skip-test-db", *user],
            check=True, capture_output=True, timeout=120,
        )
    port = free_port()
    server = start(
        "mariadbd",
        [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={socket}", "--bind-address=127.0.0.1",
         f"--port={port}", f"--pid-file={workdir / 'mysqld.pid'}", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
         "--max-connections=50", "--skip-log-bin", *user, *extra_args],
        workdir,
    )
    server.ports["mysql"] = port
    try:
        wait_for_port(port, process=server.process)
        db = MariaDB(server, socket, port, client)
        deadline = time.monotonic() + START_TIMEOUT
        while db.run_sql("SELECT 1").returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mariadbd does not answer on {socket}:\n{server.log_text()}")
            time.sleep(0.1)
        yield db
    finally:
        server.stop()
