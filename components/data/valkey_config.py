"""What a Valkey instance runs with: its server settings, its ACL users, and the script that makes a restarted
pod follow the primary Sentinel knows.

Isolation design (docs/data.md, "Valkey"): **an instance per store and purpose**. Key-pattern ACLs cannot
isolate stores that share an instance: Magento's cache clean sends `FLUSHDB`/`FLUSHALL`, which ignore key
patterns, and databases (`SELECT n`) share one ACL and one memory limit. With an instance of its own, a
store's user exists only on its own instances (another store's password is refused with WRONGPASS), its
flush empties only its own data, and one store's eviction pressure never evicts another store's keys. The
purposes differ too: the cache may evict (`allkeys-lru`, no persistence: it is rebuilt), the sessions must
not (`noeviction`, AOF every second plus RDB snapshots on a ZFS volume). There is no page-cache store:
Varnish is the full-page cache.

These functions are pure (strings and dicts): the component passes them to the chart, and the real-server
tests (tests/test_data_valkey_server.py) run the same text in Debian's redis-server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.config.types import parse_quantity

Purpose = Literal["cache", "session"]
PURPOSES: tuple[Purpose, ...] = ("cache", "session")
PORT = 6379
SENTINEL_PORT = 26379
NAMESPACE = "valkey"
CLUSTER_DOMAIN = "cluster.local"

# ACL users of every instance (besides the store's own user, named after the store).
REPLICATION_USER = "replication"
SENTINEL_USER = "sentinel"
EXPORTER_USER = "exporter"

EVICTION: dict[Purpose, str] = {"cache": "allkeys-lru", "session": "noeviction"}

# The store's user: everything on its own instance except administration (CONFIG, ACL, REPLICAOF, DEBUG,
# SHUTDOWN, MONITOR, SAVE, FAILOVER, CLIENT KILL, ...) and the other dangerous commands, with back the few
# of those Magento uses: FLUSHDB/FLUSHALL (cache clean), INFO, KEYS (cache id listing) and ROLE (the
# Sentinel client's check that it reached the primary).
STORE_PERMISSIONS = "resetkeys ~* resetchannels &* +@all -@admin -@dangerous +flushdb +flushall +info +keys +role"
# Replicas authenticate to the primary as this user (masteruser/masterauth).
REPLICATION_PERMISSIONS = "resetkeys resetchannels -@all +psync +replconf +ping"
# What Sentinel needs on a monitored instance (the Valkey/Redis Sentinel documentation's ACL for it).
SENTINEL_PERMISSIONS = (
    "resetkeys resetchannels &__sentinel__:hello -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role "
    "+publish +info +client|setname +client|kill +script|kill"
)
# The metrics exporter: server statistics only, no key access.
EXPORTER_PERMISSIONS = "resetkeys resetchannels -@all +@connection +info +config|get +client|list +slowlog +latency +memory"
# Unauthenticated connections (the chart's `valkey-cli ping` probes) may only PING.
DEFAULT_PERMISSIONS = "nopass resetkeys resetchannels -@all +ping"


@dataclass(frozen=True)
class Instance:
    """One Valkey instance: a store's cache or sessions."""

    site: str
    purpose: Purpose

    @property
    def release(self) -> str:
        """Helm release name; the chart's fullname is the release name (it contains `valkey`)."""
        return f"valkey-{self.site}-{self.purpose}"

    @property
    def master(self) -> str:
        """The name Sentinel monitors it under."""
        return f"{self.site}-{self.purpose}"

    @property
    def headless(self) -> str:
        return f"{self.release}-headless"

    @property
    def service_host(self) -> str:
        """The chart's Service (pod 0 in replica mode: not failover-aware; clients use Sentinel in prod)."""
        return f"{self.release}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}"

    def pod_host(self, index: int) -> str:
        return f"{self.release}-{index}.{self.headless}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}"

    @property
    def users_secret(self) -> str:
        return f"{self.release}-users"


def maxmemory_bytes(memory_limit: str, percent: int) -> int:
    """maxmemory: a share of the container's memory limit, rounded down to whole MiB."""
    limit = int(parse_quantity(memory_limit))
    return (limit * percent // 100) // (1024 * 1024) * (1024 * 1024)


def server_config(purpose: Purpose, memory_limit: str, percent: int) -> str:
    """The settings the chart appends to the valkey.conf it generates (port, bind, dir, aclfile and replication
    come from the chart's init script)."""
    lines = [
        f"maxmemory {maxmemory_bytes(memory_limit, percent)}",
        f"maxmemory-policy {EVICTION[purpose]}",
        "maxmemory-samples 10",
        "timeout 0",
        "tcp-keepalive 60",
        "lazyfree-lazy-user-flush yes",
    ]
    if purpose == "cache":
        lines += [
            "# a cache is rebuilt, never restored: no snapshots, no append-only file",
            'save ""',
            "appendonly no",
            "lazyfree-lazy-eviction yes",
        ]
    else:
        lines += [
            "# sessions survive a restart: append-only file synced every second, plus snapshots",
            "appendonly yes",
            "appendfsync everysec",
            "save 3600 1 300 100 60 10000",
        ]
    return "\n".join(lines) + "\n"


def acl_users(site: str) -> dict[str, dict[str, str]]:
    """The chart's `auth.aclUsers`: user -> permissions and the key of its password in the users Secret.

    The chart writes `user <name> on #<sha256 of the password> <permissions>`; `default` takes the exporter's
    password key only because the chart needs one, and `nopass` in its permissions then clears it.
    """
    return {
        "default": {"permissions": DEFAULT_PERMISSIONS, "passwordKey": EXPORTER_USER},
        site: {"permissions": STORE_PERMISSIONS},
        REPLICATION_USER: {"permissions": REPLICATION_PERMISSIONS},
        SENTINEL_USER: {"permissions": SENTINEL_PERMISSIONS},
        EXPORTER_USER: {"permissions": EXPORTER_PERMISSIONS},
    }


# Runs in each pod after the chart's init script (which always makes pod 0 the primary): asks Sentinel for the
# current primary and points this pod at it, so that a former primary restarted after a failover comes back
# as a replica instead of as a second primary. With no answer from Sentinel (first start) the chart's
# choice stands. stdin: none; environment: MASTER, SENTINEL_HOST, SENTINEL_PORT, SELF, BOOTSTRAP, PORT.
FOLLOW_PRIMARY_SCRIPT = r"""#!/bin/sh
set -eu
conf=/data/conf/valkey.conf
password_file=/valkey-users-secret/replication
primary=""
if answer=$(valkey-cli -h "$SENTINEL_HOST" -p "$SENTINEL_PORT" --raw SENTINEL get-master-addr-by-name "$MASTER" 2>/dev/null); then
  primary=$(printf '%s\n' "$answer" | sed -n 1p)
  case "$primary" in *ERR*|*NOAUTH*) primary="" ;; esac
fi
if [ -z "$primary" ]; then
  primary="$BOOTSTRAP"
  echo "follow-primary: Sentinel does not know $MASTER yet: $primary is the primary"
else
  echo "follow-primary: Sentinel reports $primary as the primary of $MASTER"
fi
tmp="$conf.tmp"
grep -v -e '^replicaof ' -e '^replica-announce-ip ' -e '^masteruser ' -e '^masterauth ' "$conf" > "$tmp" || true
{
  echo "replica-announce-ip $SELF"
  echo "masteruser replication"
  printf 'masterauth %s\n' "$(cat "$password_file")"
  if [ "$primary" != "$SELF" ]; then
    echo "replicaof $primary $PORT"
  fi
} >> "$tmp"
mv "$tmp" "$conf"
"""
