"""The real mysqld_exporter (Debian `prometheus-mysqld-exporter`) against a real one-node Galera cluster
(Debian `mariadb-server` + `galera-4`, on loopback), run with the collector flags the PXC sidecar gets and as a
`monitor` user with the operator's grants: every metric the rules and dashboards read is there, Galera's
`wsrep_*` ones included, and the collectors we switch off are off.

The sidecar runs mysqld_exporter 0.20 (`--mysqld.address`, `--mysqld.username`, MYSQLD_EXPORTER_PASSWORD).
Debian bookworm ships 0.14, which knows neither flag nor the variable: with it the test passes the same
address, user and password as DATA_SOURCE_NAME (0.14's only connection setting) and keeps every other flag
as rendered. With a Debian exporter >= 0.15 it runs the sidecar's exact arguments and environment.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from components.data import pxc, pxc_exporter
from components.platform.observability import exporters
from tests.conftest import recording_for
from tests.layer_helpers import kind
from tests.servers import START_TIMEOUT, free_port, require_binary, start, wait_for_port
from tests.servers.mariadb import MariaDB, mariadb_server

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def galera_args(workdir: Path) -> list[str]:
    """A one-node Galera cluster (bootstrap `gcomm://`) listening on loopback only."""
    return [
        "--wsrep-on=ON", "--wsrep-provider=" + require_binary("libgalera_smm.so", "galera-4", extra_paths=("/usr/lib/galera",)),
        "--wsrep-cluster-address=gcomm://", "--wsrep-node-address=127.0.0.1", "--wsrep-sst-method=rsync",
        f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{free_port()};base_host=127.0.0.1;"
        f"ist.recv_addr=127.0.0.1:{free_port()};gcache.size=16M",
        "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
    ]


def create_monitor_user(db: MariaDB, password: str) -> None:
    """The operator's `monitor` user (its init SQL: 'monitor'@'%', these grants, 100 connections at most)."""
    db.query(
        f"CREATE USER '{pxc_exporter.USER}'@'%' IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 100;"
        f"GRANT SELECT, PROCESS, SUPER, REPLICATION CLIENT, RELOAD ON *.* TO '{pxc_exporter.USER}'@'%';"
        f"GRANT SELECT ON performance_schema.* TO '{pxc_exporter.USER}'@'%';"
    )


def exporter_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    found = re.search(r"version (\d+)\.(\d+)", out.stdout + out.stderr)
    assert found, out
    return int(found[1]), int(found[2])


def exporter_command(sidecar: dict, binary: str, db: MariaDB, password: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The sidecar's arguments and environment, pointed at the test's server and port."""
    env_names = {e["name"] for e in sidecar["env"]}
    assert env_names == {"MYSQLD_EXPORTER_PASSWORD"}
    args = [a for a in sidecar["args"] if not a.startswith("--web.listen-address=")] + [f"--web.listen-address=127.0.0.1:{port}"]
    address = f"127.0.0.1:{db.port}"
    if exporter_version(binary) >= (0, 15):
        args = [f"--mysqld.address={address}" if a.startswith("--mysqld.address=") else a for a in args]
        return args, {"MYSQLD_EXPORTER_PASSWORD": password}
    user = next(a.split("=", 1)[1] for a in args if a.startswith("--mysqld.username="))
    args = [a for a in args if not a.startswith("--mysqld.")]
    return args, {"DATA_SOURCE_NAME": f"{user}:{password}@tcp({address})/"}


def scrape(port: int, process: subprocess.Popen) -> dict[str, float]:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.2)
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples.setdefault(match[1], float(match[3]))
    return samples


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """One scrape with the monitor user's password and one with a wrong password (its `mysql_up` only)."""
    (cluster,) = kind(recording_for("prod"), "PerconaXtraDBCluster")
    (sidecar,) = [s for s in cluster.inputs["spec"]["pxc"]["sidecars"] if s["name"] == pxc_exporter.CONTAINER]
    binary = require_binary("prometheus-mysqld-exporter", "prometheus-mysqld-exporter", extra_paths=("/usr/bin",))
    workdir = tmp_path_factory.mktemp("pxc-exporter")
    password = secrets.token_hex(16)
    with mariadb_server(workdir, extra_args=galera_args(workdir)) as db:
        assert db.query("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'") == [["wsrep_local_state_comment", "Synced"]]
        create_monitor_user(db, password)
        db.query("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1);")
        scraped = {}
        for name, secret in (("right", password), ("wrong", password + "x")):
            port = free_port()
            args, env = exporter_command(sidecar, binary, db, secret, port)
            exporter = start(f"mysqld-exporter-{name}", [binary, *args], workdir, env=env)
            try:
                wait_for_port(port, process=exporter.process)
                scraped[name] = scrape(port, exporter.process)
            finally:
                exporter.stop()
    return {**scraped["right"], "wrong_password_mysql_up": scraped["wrong"]["mysql_up"]}


def test_the_exporter_reaches_mysql_as_the_monitor_user(metrics: dict[str, float]):
    assert metrics["mysql_up"] == 1
    assert metrics["mysql_global_status_threads_connected"] >= 1
    assert metrics["mysql_global_variables_max_connections"] == 50  # what tests/servers/mariadb.py starts with
    assert metrics["mysql_global_status_queries"] > 0


def test_a_refused_login_is_mysql_up_zero(metrics: dict[str, float]):
    """What PxcDown (`mysql_up == 0`) sees when the sidecar's password is not the one the server has."""
    assert metrics["wrong_password_mysql_up"] == 0


def test_galera_metrics_the_rules_use_come_from_global_status(metrics: dict[str, float]):
    assert metrics["mysql_global_status_wsrep_cluster_size"] == 1
    assert metrics["mysql_global_status_wsrep_local_state"] == 4  # Synced
    assert metrics["mysql_global_status_wsrep_flow_control_paused_ns"] >= 0


def test_every_metric_the_table_lists_for_mysqld_exporter_is_emitted(metrics: dict[str, float]):
    assert exporters.EXPORTERS["mysqld-exporter"].metrics - set(metrics) == set()


def test_the_collectors_switched_off_emit_nothing(metrics: dict[str, float]):
    assert not [m for m in metrics if m.startswith(("mysql_slave_status_", "mysql_info_schema_innodb_cmp", "mysql_info_schema_query_response"))]
    assert pxc_exporter.USER in pxc.SYSTEM_USERS
