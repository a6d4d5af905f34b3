"""The Galera arbitrator with real servers: two Galera data members (Debian `mariadb-server` + `galera-4`) and
Debian's garbd (`galera-arbitrator-4`) on loopback, over TLS, garbd run with the argv the prod Deployment
renders. One member killed (SIGKILL: a lost server, not a clean leave): with garbd the survivor stays Primary
and takes a write; without garbd the same kill leaves it non-Primary. That difference is garbd's vote.

What the test maps, and nothing else, from the pod to one loopback host:
* the member names of `--address` (`mysql-pxc-<i>.mysql-pxc`, the operator's headless Service) resolve through
  nss_wrapper (Debian `libnss-wrapper`) to the members' loopback addresses: garbd resolves the rendered names;
* `gmcast.listen_addr=tcp://0.0.0.0:4567` listens on garbd's own loopback address (three processes share the
  host's port 4567);
* the two in-pod directories (the Secret's mount, the emptyDir) are directories of the test.
The members are configured as the operator configures PXC members: group = the Service's name, `pc.weight=10`,
replication TLS from one certificate for the cluster with the operator's names (CN `mysql-pxc`, SANs
`mysql-pxc`, `*.mysql-pxc`) and its CA, the same files garbd is given.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.data import pxc, pxc_arbitrator
from tests.conftest import recording_for
from tests.layer_helpers import kind
from tests.servers import Server, require_binary, start
from tests.servers.mariadb import MariaDB, mariadb_server

VIEW_TIMEOUT = 60.0  # seconds a new Galera view may take (suspect 5 s + inactive 15 s by default)
NET = f"127.{random.randint(20, 250)}.{random.randint(0, 250)}"  # one /24 of loopback per test run
ADDRESSES = {"member-0": f"{NET}.2", "member-1": f"{NET}.3", "garbd": f"{NET}.4"}


def rendered_command() -> list[str]:
    (deployment,) = [d for d in kind(recording_for("prod"), "Deployment") if d.inputs["metadata"]["name"] == "mysql-garbd"]
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    return container["command"]


def replace_once(argv: list[str], old: str, new: str) -> list[str]:
    assert sum(old in a for a in argv) == 1, (old, argv)
    return [a.replace(old, new) for a in argv]


def certificates(directory: Path) -> Path:
    """A CA and one certificate for the cluster, named as the operator's `<cluster>-ssl-internal`."""
    directory.mkdir()
    group = pxc_arbitrator.group(pxc.CLUSTER)

    def openssl(*args: str) -> None:
        subprocess.run([require_binary("openssl", "openssl", extra_paths=("/usr/bin",)), *args], cwd=directory,
                       check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={group}", "-keyout", "tls.key", "-out", "tls.csr")
    (directory / "san.ext").write_text(f"subjectAltName=DNS:{group},DNS:*.{group}\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "tls.crt")
    return directory


def member_args(index: int, ssl: Path) -> list[str]:
    """A PXC member as the operator configures one, on its loopback address (member 0 bootstraps the group)."""
    address = ADDRESSES[f"member-{index}"]
    join = "" if index == 0 else f"{ADDRESSES['member-0']}:{pxc_arbitrator.GALERA_PORT}"
    tls = f"socket.ssl_ca={ssl}/ca.crt;socket.ssl_cert={ssl}/tls.crt;socket.ssl_key={ssl}/tls.key"
    return [
        "--wsrep-on=ON", "--wsrep-provider=" + require_binary("libgalera_smm.so", "galera-4", extra_paths=("/usr/lib/galera",)),
        f"--wsrep-cluster-name={pxc_arbitrator.group(pxc.CLUSTER)}", f"--wsrep-cluster-address=gcomm://{join}",
        f"--wsrep-node-address={address}", f"--wsrep-node-name={pxc_arbitrator.member_hosts(pxc.CLUSTER, 2)[index]}",
        "--wsrep-sst-method=rsync", f"--wsrep-sst-receive-address={address}:4444",
        f"--wsrep-provider-options=gmcast.listen_addr=tcp://{address}:{pxc_arbitrator.GALERA_PORT};"
        f"ist.recv_addr={address}:4568;pc.weight={pxc_arbitrator.MEMBER_WEIGHT};gcache.size=16M;{tls}",
        "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
    ]


def status(db: MariaDB, name: str) -> str:
    rows = db.query(f"SHOW GLOBAL STATUS LIKE '{name}'")
    return rows[0][1] if rows else ""


def wait_for(db: MariaDB, name: str, value: str, what: str, *logs: Server) -> None:
    deadline = time.monotonic() + VIEW_TIMEOUT
    while status(db, name) != value:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {name} is {status(db, name)!r}, not {value!r} after {VIEW_TIMEOUT}s\n"
                        + "\n".join(s.log_text()[-3000:] for s in (db.server, *logs)), pytrace=False)
        time.sleep(0.5)


def kill(server: Server) -> None:
    """A lost server: no clean leave, the process is gone at once."""
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


@contextlib.contextmanager
def two_members(workdir: Path, ssl: Path) -> Iterator[tuple[MariaDB, MariaDB]]:
    """Member 0 bootstraps the group, member 1 joins it (rsync state transfer into an empty data directory).
    Run by root, Debian's rsync SST daemon writes as `nobody` (its rsyncd.conf sets no `uid`): the joiner's
    directory is then nobody's."""
    for directory in ("m0", "m1/data"):
        (workdir / directory).mkdir(parents=True)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(workdir / "m1" / "data", nobody.pw_uid, nobody.pw_gid)
    with mariadb_server(workdir / "m0", extra_args=member_args(0, ssl)) as first:
        wait_for(first, "wsrep_cluster_status", "Primary", "the bootstrapped member")
        first.query("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.t VALUES (1);")
        with mariadb_server(workdir / "m1", extra_args=member_args(1, ssl), initialise=False) as second:
            wait_for(first, "wsrep_cluster_size", "2", "the second member joins", second.server)
            wait_for(second, "wsrep_local_state_comment", "Synced", "the second member syncs", second.server)
            yield first, second


def garbd(workdir: Path, ssl: Path) -> Server:
    binary = require_binary("garbd", "galera-arbitrator-4", extra_paths=("/usr/bin",))
    wrapper = next((p for p in ("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so", "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
                                "/usr/lib/libnss_wrapper.so") if Path(p).exists()), None)
    if wrapper is None:
        pytest.fail("libnss_wrapper.so is not installed: apt-get install libnss-wrapper (.ci/run installs it)", pytrace=False)
    hosts = workdir / "hosts"
    names = pxc_arbitrator.member_hosts(pxc.CLUSTER, 2)
    hosts.write_text("".join(f"{ADDRESSES[f'member-{i}']} {name}\n" for i, name in enumerate(names)))
    state = workdir / "garbd-workdir"
    state.mkdir()
    argv = rendered_command()
    assert argv[0] == "garbd"
    argv = replace_once(argv, f"tcp://0.0.0.0:{pxc_arbitrator.GALERA_PORT}", f"tcp://{ADDRESSES['garbd']}:{pxc_arbitrator.GALERA_PORT}")
    argv = replace_once(argv, f"={pxc_arbitrator.WORKDIR}", f"={state}")
    argv = [a.replace(f"{pxc_arbitrator.SSL_DIR}/", f"{ssl}/") for a in argv]
    return start("garbd", [binary, *argv[1:]], workdir, env={"LD_PRELOAD": wrapper, "NSS_WRAPPER_HOSTS": str(hosts)})


@pytest.fixture(scope="module")
def ssl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return certificates(tmp_path_factory.mktemp("pxc-arbitrator") / "ssl-internal")


def test_the_rendered_garbd_joins_the_group_with_the_members_names_and_tls():
    argv = rendered_command()
    assert argv == pxc_arbitrator.command("mysql", 2)
    assert "--group=mysql-pxc" in argv
    assert "--address=gcomm://mysql-pxc-0.mysql-pxc:4567,mysql-pxc-1.mysql-pxc:4567?gmcast.listen_addr=tcp://0.0.0.0:4567" in argv
    assert "socket.ssl_key=/etc/mysql/ssl-internal/tls.key" in next(a for a in argv if a.startswith("--options="))


def test_with_garbd_the_survivor_of_a_lost_server_stays_primary_and_writes(tmp_path: Path, ssl: Path):
    with two_members(tmp_path / "cluster", ssl) as (first, second):
        arbitrator = garbd(tmp_path, ssl)
        try:
            wait_for(first, "wsrep_cluster_size", "3", "garbd joins over TLS", arbitrator)
            first.query("INSERT INTO shop.t VALUES (2);")
            assert second.query("SELECT id FROM shop.t ORDER BY id") == [["1"], ["2"]]  # replicated
            kill(second.server)
            wait_for(first, "wsrep_cluster_size", "2", "the lost member leaves the view", arbitrator)
            assert status(first, "wsrep_cluster_status") == "Primary"
            first.query("INSERT INTO shop.t VALUES (3);")
            assert first.query("SELECT id FROM shop.t ORDER BY id") == [["1"], ["2"], ["3"]]
            assert arbitrator.process.poll() is None, arbitrator.log_text()
        finally:
            arbitrator.stop()


def test_without_garbd_the_same_loss_leaves_the_survivor_non_primary(tmp_path: Path, ssl: Path):
    with two_members(tmp_path / "cluster", ssl) as (first, second):
        kill(second.server)
        wait_for(first, "wsrep_cluster_status", "non-Primary", "the survivor without garbd")
        refused = first.run_sql("INSERT INTO shop.t VALUES (2);")
        assert refused.returncode != 0 and "WSREP" in refused.stderr, refused
