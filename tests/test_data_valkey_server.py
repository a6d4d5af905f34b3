"""Valkey isolation and eviction against a real server (Debian's redis-server, same protocol and ACLs).

Each instance's configuration is made the way a pod makes it: the chart's own init script, as the prod stack
renders it, runs with the users Secret's files and the chart's ConfigMap (our valkey.conf settings), then
redis-server starts on that output (listening moved to loopback). Site A's credentials must not read, write
or flush site B's data; the eviction settings must be what the configuration says, and behave so.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from components.data import valkey_config as vc
from offline.engine import Recording
from tests.layer_helpers import rendered
from tests.servers import Server
from tests.servers.redis import Client, RespError, info, start_redis, wait_until

SITES = ("shop-fr", "shop-de")
PASSWORDS = {"shop-fr": "fr-Very-Secret-1", "shop-de": "de-Very-Secret-2",
             vc.REPLICATION_USER: "repl-secret", vc.SENTINEL_USER: "sentinel-secret", vc.EXPORTER_USER: "exporter-secret"}


def _config_map(rec: Recording, release: str, suffix: str) -> dict[str, str]:
    objects = [r.inputs for r in rendered(rec, release, "ConfigMap") if r.inputs["metadata"]["name"] == f"{release}-{suffix}"]
    assert len(objects) == 1, f"{release}-{suffix}"
    return objects[0]["data"]


def build_config(rec: Recording, instance: vc.Instance, root: Path, pod_index: int = 0) -> str:
    """Run the chart's init.sh (as rendered) in `root` with the instance's secrets; return the valkey.conf it writes."""
    release = instance.release
    init = _config_map(rec, release, "init-scripts")["init.sh"]
    extra = _config_map(rec, release, "config")["valkey.conf"]
    for sub in ("data", "etc", "users", "extra"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    users = {"default": "", instance.site: PASSWORDS[instance.site], **{u: PASSWORDS[u] for u in
             (vc.REPLICATION_USER, vc.SENTINEL_USER, vc.EXPORTER_USER)}}
    for user, password in users.items():
        if password:
            (root / "users" / user).write_text(password)
    (root / "extra" / "valkey.conf").write_text(extra)
    script = (init.replace("/valkey-users-secret", str(root / "users"))
              .replace("/usr/local/etc/valkey/valkey.conf", str(root / "extra" / "valkey.conf"))
              .replace("/extravalkeyconfigs", str(root / "no-extra-configs"))
              .replace("/etc/valkey", str(root / "etc"))
              .replace("/data", str(root / "data")))
    (root / "init.sh").write_text(script)
    result = subprocess.run(["sh", str(root / "init.sh")], env={"POD_INDEX": str(pod_index), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text = (root / "data" / "conf" / "valkey.conf").read_text()
    assert "aclfile" in text and vc.REPLICATION_USER not in text.split("aclfile", 1)[0]
    return text


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import recording_for

    rec = recording_for("prod")
    started: dict[tuple[str, str], Server] = {}
    try:
        for site in SITES:
            for purpose in vc.PURPOSES:
                instance = vc.Instance(site, purpose)
                root = tmp_path_factory.mktemp(instance.release)
                primary = start_redis(instance.release, root, build_config(rec, instance, root))
                started[(site, purpose)] = primary
                # a replica as pod 1 makes its config (the chart points it at pod 0 with the replication user)
                replica_root = tmp_path_factory.mktemp(f"{instance.release}-1")
                text = build_config(rec, instance, replica_root, pod_index=1)
                assert f"replicaof {instance.pod_host(0)} {vc.PORT}" in text and f"masteruser {vc.REPLICATION_USER}" in text
                text = text.replace(f"replicaof {instance.pod_host(0)} {vc.PORT}", f"replicaof 127.0.0.1 {primary.ports['tcp']}")
                started[(site, purpose, "replica")] = start_redis(f"{instance.release}-1", replica_root, text)
        for (_site, _purpose, *rest), server in started.items():
            if not rest:  # min-replicas-to-write 1: the primary takes writes once its replica is in sync
                with Client(server.ports["tcp"]) as c:
                    assert c.call("AUTH", vc.EXPORTER_USER, PASSWORDS[vc.EXPORTER_USER]) == "OK"
                    assert wait_until(lambda c=c: "state=online" in info(c, "replication").get("slave0", "")), server.log_text()
        yield started
    finally:
        for server in started.values():
            server.stop()


def client(servers: dict, site: str, purpose: str, user: str | None = None, password: str | None = None) -> Client:
    c = Client(servers[(site, purpose)].ports["tcp"])
    if user is not None:
        assert c.call("AUTH", user, password or "") == "OK"
    return c


@pytest.mark.parametrize("purpose", vc.PURPOSES)
def test_a_store_reads_writes_and_flushes_its_own_instance(servers, purpose: str):
    with client(servers, "shop-fr", purpose, "shop-fr", PASSWORDS["shop-fr"]) as c:
        assert c.call("SET", "fr:key", "fr-value") == "OK"
        assert c.call("GET", "fr:key") == "fr-value"
        assert c.call("EVAL", "return redis.call('GET', KEYS[1])", 1, "fr:key") == "fr-value"  # Magento's Lua
        assert c.call("FLUSHDB") == "OK"  # Magento's cache clean
        assert c.call("DBSIZE") == 0
        assert c.call("ROLE")[0] == "master"


@pytest.mark.parametrize("purpose", vc.PURPOSES)
def test_site_a_credentials_cannot_read_write_or_flush_site_b(servers, purpose: str):
    with client(servers, "shop-de", purpose, "shop-de", PASSWORDS["shop-de"]) as b:
        assert b.call("SET", "de:cart", "b-data") == "OK"
    with Client(servers[("shop-de", purpose)].ports["tcp"]) as a_on_b:
        refused = a_on_b.call("AUTH", "shop-fr", PASSWORDS["shop-fr"])
        assert isinstance(refused, RespError) and refused.startswith("WRONGPASS"), refused
        # still unauthenticated (the default user): no key, no flush
        for command in (("GET", "de:cart"), ("SET", "de:cart", "stolen"), ("FLUSHDB",), ("FLUSHALL",), ("KEYS", "*")):
            reply = a_on_b.call(*command)
            assert isinstance(reply, RespError) and reply.startswith("NOPERM"), (command, reply)
        assert a_on_b.call("PING") == "PONG"  # what the chart's probes need
        # nor A's password under B's user name
        assert isinstance(a_on_b.call("AUTH", "shop-de", PASSWORDS["shop-fr"]), RespError)
    with client(servers, "shop-de", purpose, "shop-de", PASSWORDS["shop-de"]) as b:
        assert b.call("GET", "de:cart") == "b-data"


@pytest.mark.parametrize("command", [
    ("CONFIG", "SET", "maxmemory-policy", "noeviction"), ("CONFIG", "GET", "requirepass"), ("ACL", "LIST"),
    ("REPLICAOF", "127.0.0.1", "1"), ("DEBUG", "SLEEP", "0"), ("SHUTDOWN",), ("MONITOR",), ("BGSAVE",),
    ("CLIENT", "KILL", "TYPE", "normal"), ("FAILOVER",),
])
def test_a_store_cannot_administer_its_instance(servers, command: tuple[str, ...]):
    with client(servers, "shop-fr", "cache", "shop-fr", PASSWORDS["shop-fr"]) as c:
        reply = c.call(*command)
        # DEBUG is also switched off server-wide (enable-debug-command no, the default), which answers first
        refused = ("NOPERM", "ERR DEBUG command not allowed") if command[0] == "DEBUG" else ("NOPERM",)
        assert isinstance(reply, RespError) and reply.startswith(refused), (command, reply)


def test_the_replica_follows_with_the_replication_user(servers):
    with client(servers, "shop-de", "session", "shop-de", PASSWORDS["shop-de"]) as primary:
        assert primary.call("SET", "de:replicated", "yes") == "OK"
    replica = servers[("shop-de", "session", "replica")]
    with Client(replica.ports["tcp"]) as c:
        assert c.call("AUTH", "shop-de", PASSWORDS["shop-de"]) == "OK"
        assert wait_until(lambda: c.call("GET", "de:replicated") == "yes", timeout=10)
        assert c.call("ROLE")[0] == "slave"
        reply = c.call("SET", "de:on-replica", "no")
        assert isinstance(reply, RespError) and reply.startswith("READONLY")


def test_internal_users_are_limited_to_their_job(servers):
    with client(servers, "shop-fr", "session", vc.EXPORTER_USER, PASSWORDS[vc.EXPORTER_USER]) as c:
        assert "used_memory" in info(c, "memory")
        assert isinstance(c.call("GET", "any"), RespError)
    with client(servers, "shop-fr", "session", vc.REPLICATION_USER, PASSWORDS[vc.REPLICATION_USER]) as c:
        assert isinstance(c.call("GET", "any"), RespError) and isinstance(c.call("FLUSHALL"), RespError)
    with client(servers, "shop-fr", "session", vc.SENTINEL_USER, PASSWORDS[vc.SENTINEL_USER]) as c:
        assert c.call("ROLE")[0] == "master"
        assert isinstance(c.call("GET", "any"), RespError) and isinstance(c.call("FLUSHALL"), RespError)


def _expected_maxmemory(purpose: str) -> int:
    """maxmemory from the prod stack file: the store's memory limit times valkey.maxmemoryPercent."""
    from components.config import validate
    from tests.layer_helpers import stack_values

    valkey = validate(stack_values("prod")).data.valkey
    return vc.maxmemory_bytes(valkey.store_resources(purpose).memory_limit, valkey.maxmemory_percent)


@pytest.mark.parametrize("purpose", vc.PURPOSES)
def test_eviction_settings_are_what_the_config_says(servers, purpose: str):
    expected = _expected_maxmemory(purpose)
    with client(servers, "shop-de", purpose, "shop-de", PASSWORDS["shop-de"]) as c:
        memory = info(c, "memory")
        assert int(memory["maxmemory"]) == expected
        assert memory["maxmemory_policy"] == vc.EVICTION[purpose]
        persistence = info(c, "persistence")
        assert persistence["aof_enabled"] == ("1" if purpose == "session" else "0")


def _small_instance(tmp_path: Path, purpose: str) -> Server:
    """An instance from the same generator at a small memory limit (16Mi at 70%), to fill it."""
    text = vc.server_config(purpose, "16Mi", 70).replace("save 3600 1 300 100 60 10000", 'save ""')
    users = f"user default on {vc.DEFAULT_PERMISSIONS}\nuser shop {vc.STORE_PERMISSIONS.replace('resetkeys', 'on >pw resetkeys', 1)}\n"
    (tmp_path / "users.acl").write_text(users)
    return start_redis(f"small-{purpose}", tmp_path, text + f"dir {tmp_path}\naclfile {tmp_path / 'users.acl'}\n")


def _fill(c: Client, count: int = 400, size: int = 64 * 1024) -> list[object]:
    value = "x" * size
    return [c.call("SET", f"k{i}", value) for i in range(count)]  # 25 MiB into an 11 MiB instance


def test_the_cache_evicts_least_recently_used_keys_when_full(tmp_path: Path):
    server = _small_instance(tmp_path, "cache")
    try:
        with Client(server.ports["tcp"]) as c:
            assert c.call("AUTH", "shop", "pw") == "OK"
            replies = _fill(c)
            assert all(r == "OK" for r in replies)
            stats = info(c, "stats")
            assert int(stats["evicted_keys"]) > 0
            kept = c.call("DBSIZE")
            assert isinstance(kept, int) and kept < 400
            # LRU is sampled (maxmemory-samples 10): the newest key stays, most of the oldest ones are gone
            assert c.call("EXISTS", "k399") == 1
            assert sum(c.call("EXISTS", f"k{i}") for i in range(100)) < 50
            assert int(info(c, "memory")["used_memory"]) <= int(info(c, "memory")["maxmemory"]) * 1.1
    finally:
        server.stop()


def test_the_session_store_refuses_writes_rather_than_evict(tmp_path: Path):
    server = _small_instance(tmp_path, "session")
    try:
        with Client(server.ports["tcp"]) as c:
            assert c.call("AUTH", "shop", "pw") == "OK"
            replies = _fill(c)
            refused = [r for r in replies if isinstance(r, RespError)]
            assert refused and all(re.match(r"OOM", r) for r in refused)
            assert int(info(c, "stats")["evicted_keys"]) == 0
            assert c.call("GET", "k0") is not None  # the first sessions are all still there
    finally:
        server.stop()
