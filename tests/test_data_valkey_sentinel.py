"""Sentinel failover against real servers (Debian's redis-server, and redis-server --sentinel).

A store's session instance as prod renders it (the chart's init script for pod 0 and pod 1, with our values),
three Sentinels with the sentinel.conf the program generates, all on loopback. The primary is killed: the
Sentinels promote the replica, the store's data and credentials work on it, and the former primary, started
again after our follow-primary init step, rejoins as a replica of the new primary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from components.data import sentinel as sn
from components.data import valkey_config as vc
from tests.servers import free_port
from tests.servers.redis import Client, info, start_redis, wait_until
from tests.test_data_valkey_server import PASSWORDS, build_config

INSTANCE = vc.Instance("shop-fr", "session")
FAILOVER_TIMEOUT = 60.0


def _loopback(text: str, primary_port: int | None) -> str:
    """The pod's config on loopback: announce 127.0.0.1 (pod DNS names do not resolve here), follow the port."""
    text = re.sub(r"^replica-announce-ip .*$", "replica-announce-ip 127.0.0.1", text, flags=re.M)
    if primary_port is not None:
        text = re.sub(r"^replicaof \S+ \d+$", f"replicaof 127.0.0.1 {primary_port}", text, flags=re.M)
    return text


def _sentinel_text(primary_port: int, port: int, workdir: Path) -> str:
    text = sn.sentinel_config([INSTANCE], sentinel_password=PASSWORDS[vc.SENTINEL_USER], peer_password="peer-secret",
                              primary_host=lambda _i: "127.0.0.1", port=port, valkey_port=primary_port)
    return text.replace("dir /data", f"dir {workdir}") + "sentinel announce-ip 127.0.0.1\n"


def _primary_port(port: int) -> int | None:
    with Client(port) as c:
        reply = c.call("SENTINEL", "get-master-addr-by-name", INSTANCE.master)
    return int(reply[1]) if isinstance(reply, list) else None


@pytest.fixture
def cli_as_valkey_cli(tmp_path: Path) -> dict[str, str]:
    """The images ship valkey-cli; Debian ships the same client as redis-cli."""
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli is missing: apt-get install redis-server (it brings redis-tools)"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "valkey-cli").symlink_to(cli)
    return {"PATH": f"{bindir}:/usr/bin:/bin"}


def test_sentinel_promotes_the_replica_and_the_old_primary_rejoins(tmp_path: Path, cli_as_valkey_cli: dict[str, str]):
    from tests.conftest import recording_for

    rec = recording_for("prod")
    servers = []
    try:
        primary_root, replica_root = tmp_path / "pod-0", tmp_path / "pod-1"
        primary_text = _loopback(build_config(rec, INSTANCE, primary_root, 0), None)
        primary = start_redis("pod-0", primary_root, primary_text)
        servers.append(primary)
        replica = start_redis("pod-1", replica_root, _loopback(build_config(rec, INSTANCE, replica_root, 1), primary.ports["tcp"]))
        servers.append(replica)
        sentinel_ports = [free_port() for _ in range(3)]
        for i, port in enumerate(sentinel_ports):
            root = tmp_path / f"sentinel-{i}"
            root.mkdir()
            servers.append(start_redis(f"sentinel-{i}", root, _sentinel_text(primary.ports["tcp"], port, root), sentinel=True, port=port))

        def ready() -> bool:
            with Client(sentinel_ports[0]) as c:
                fields = c.call("SENTINEL", "master", INSTANCE.master)
            state = dict(zip(fields[::2], fields[1::2], strict=True)) if isinstance(fields, list) else {}
            return state.get("num-slaves") == "1" and state.get("num-other-sentinels") == "2"

        assert wait_until(ready, timeout=FAILOVER_TIMEOUT), [s.log_text()[-2000:] for s in servers[2:]]
        with Client(primary.ports["tcp"]) as c:
            assert c.call("AUTH", "shop-fr", PASSWORDS["shop-fr"]) == "OK"
            assert c.call("SET", "session:drill", "kept") == "OK"
            assert c.call("WAIT", 1, 5000) == 1

        # unauthenticated clients may ask Sentinel where the primary is, and nothing that changes it
        with Client(sentinel_ports[1]) as c:
            assert _primary_port(sentinel_ports[1]) == primary.ports["tcp"]
            assert str(c.call("SENTINEL", "failover", INSTANCE.master)).startswith("NOPERM")
            assert str(c.call("SENTINEL", "remove", INSTANCE.master)).startswith("NOPERM")

        stopped = time.monotonic()
        primary.stop()
        assert wait_until(lambda: _primary_port(sentinel_ports[2]) == replica.ports["tcp"], timeout=FAILOVER_TIMEOUT), \
            [s.log_text()[-2000:] for s in servers[2:]]
        # down-after 5 s, then agreement, election and promotion (printed for the drill log: pytest -s)
        print(f"failover: Sentinel reported the new primary {time.monotonic() - stopped:.1f} s after the old one stopped")
        with Client(replica.ports["tcp"]) as c:
            assert c.call("AUTH", "shop-fr", PASSWORDS["shop-fr"]) == "OK"
            assert c.call("ROLE")[0] == "master"
            assert c.call("GET", "session:drill") == "kept"
            assert c.call("SET", "session:after", "written") == "OK"

        # the former primary restarts: the chart's init makes it a primary again, our step asks Sentinel
        script = (vc.FOLLOW_PRIMARY_SCRIPT.replace("/data/conf/valkey.conf", str(primary_root / "data" / "conf" / "valkey.conf"))
                  .replace("/valkey-users-secret", str(primary_root / "users")))
        build_config(rec, INSTANCE, primary_root, 0)
        (primary_root / "follow-primary.sh").write_text(script)
        env = {**cli_as_valkey_cli, "MASTER": INSTANCE.master, "SENTINEL_HOST": "127.0.0.1", "SENTINEL_PORT": str(sentinel_ports[0]),
               "SELF": INSTANCE.pod_host(0), "BOOTSTRAP": INSTANCE.pod_host(0), "PORT": str(replica.ports["tcp"])}
        step = subprocess.run(["sh", str(primary_root / "follow-primary.sh")], env=env, capture_output=True, text=True, timeout=30)
        assert step.returncode == 0, step.stderr
        assert "Sentinel reports 127.0.0.1 as the primary" in step.stdout
        conf = (primary_root / "data" / "conf" / "valkey.conf").read_text()
        assert f"replicaof 127.0.0.1 {replica.ports['tcp']}" in conf and "masteruser replication" in conf
        assert PASSWORDS[vc.REPLICATION_USER] not in step.stdout + step.stderr
        old = start_redis("pod-0-again", primary_root, _loopback(conf, None), port=primary.ports["tcp"])
        servers.append(old)
        with Client(old.ports["tcp"]) as c:
            assert c.call("AUTH", "shop-fr", PASSWORDS["shop-fr"]) == "OK"
            assert wait_until(lambda: c.call("GET", "session:after") == "written", timeout=FAILOVER_TIMEOUT), old.log_text()[-2000:]
            assert c.call("ROLE")[0] == "slave"
            assert info(c, "replication")["master_port"] == str(replica.ports["tcp"])
    finally:
        for server in servers:
            server.stop()
