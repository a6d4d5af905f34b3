"""my.cnf for the Percona XtraDB Cluster nodes, sized from the container's memory limit.

* **Buffer pool**: `bufferPoolShare` of the memory limit, rounded down to a whole number of chunks
  (`innodb_buffer_pool_chunk_size` x `innodb_buffer_pool_instances`, which InnoDB would otherwise round
  *up*, past what we budgeted). One instance per GiB of pool, at most 8.
* **Connections**: what the stores open (each store's PHP-FPM children, cron and consumers,
  `components/sizing.py: site_database_connections`) plus a reserve for the operator, monitoring,
  backups, HAProxy checks and the tenancy Jobs.
* **The rest of the limit** must hold every connection's worst-case session buffers, Galera's
  write-set cache and the server's fixed overhead; `MysqlSizing.check()` says when it does not, naming
  the key to change.
* **Magento on MySQL 8.4 and Galera**: `restrict_fk_on_non_standard_key=OFF` (schemas upgraded from
  8.0 carry foreign keys on non-unique keys); `pxc_strict_mode` from config, PERMISSIVE by default:
  ENFORCING refuses DML on tables without a primary key, and Magento's `queue_poison_pill` has none
  (magento2 #33822, #39239); PERMISSIVE replicates them and logs a warning for each, which the runbook
  watches. `log_bin_trust_function_creators=1`: Magento's indexers create triggers, which a binlogging
  server otherwise refuses to a user without SUPER.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
GIB = 1024 * MIB
CHUNK = 128 * MIB  # innodb_buffer_pool_chunk_size (default)
RESERVED_CONNECTIONS = 30  # operator, monitor, xtrabackup, HAProxy checks, tenancy Jobs, an operator's shell
PER_CONNECTION = 4 * MIB  # thread stack 1M + sort/join/read/read_rnd buffers + net buffers, rounded up
FIXED_OVERHEAD = 512 * MIB  # performance_schema, Galera gcache pages and write-sets, log buffer, dictionary
TMP_TABLE = 32 * MIB  # tmp_table_size = max_heap_table_size; a few sessions at once, inside FIXED_OVERHEAD's slack
REDO_MIN, REDO_MAX = 512 * MIB, 4 * GIB


@dataclass(frozen=True)
class MysqlSizing:
    memory_limit: int  # bytes
    buffer_pool: int
    instances: int
    max_connections: int
    redo_log_capacity: int

    @property
    def headroom(self) -> int:
        """What the limit leaves after the buffer pool, the fixed overhead and every connection."""
        return self.memory_limit - self.buffer_pool - FIXED_OVERHEAD - self.max_connections * PER_CONNECTION

    def check(self) -> str | None:
        """None when the sizing fits in the memory limit, else why not (for the configuration check)."""
        if self.buffer_pool < CHUNK:
            return f"a buffer pool of {self.buffer_pool // MIB} MiB is below one 128 MiB chunk: raise memoryLimit"
        if self.headroom < 0:
            need = -self.headroom // MIB + 1
            return (
                f"{self.max_connections} connections x {PER_CONNECTION // MIB} MiB + {FIXED_OVERHEAD // MIB} MiB overhead do not fit "
                f"beside a {self.buffer_pool // MIB} MiB buffer pool: raise memoryLimit by {need} MiB or lower bufferPoolShare"
            )
        return None


def sizing(memory_limit: int, buffer_pool_share: float, site_connections: int) -> MysqlSizing:
    """The buffer pool, instances, connections and redo capacity for a memory limit in bytes."""
    wanted = int(memory_limit * buffer_pool_share)
    instances = max(1, min(8, wanted // GIB))
    unit = CHUNK * instances
    pool = (wanted // unit) * unit
    if pool == 0:
        instances, pool = 1, (wanted // CHUNK) * CHUNK
    redo = min(REDO_MAX, max(REDO_MIN, (pool // 4) // MIB * MIB))
    return MysqlSizing(memory_limit, pool, instances, site_connections + RESERVED_CONNECTIONS, redo)


def my_cnf(size: MysqlSizing, strict_mode: str) -> str:
    """The `[mysqld]` section the operator writes into each node's configuration (spec.pxc.configuration)."""
    settings = {
        "innodb_buffer_pool_size": size.buffer_pool,
        "innodb_buffer_pool_instances": size.instances,
        "innodb_redo_log_capacity": size.redo_log_capacity,
        "max_connections": size.max_connections,
        "restrict_fk_on_non_standard_key": "OFF",
        "pxc_strict_mode": strict_mode,
        "log_bin_trust_function_creators": 1,
        "max_allowed_packet": 64 * MIB,
        "tmp_table_size": TMP_TABLE,
        "max_heap_table_size": TMP_TABLE,
        "table_open_cache": 4000,
        "binlog_expire_logs_seconds": 3 * 24 * 3600,  # local binlogs; PITR uploads them every minute
        "skip_name_resolve": "ON",
        "character_set_server": "utf8mb4",
        "collation_server": "utf8mb4_general_ci",
    }
    lines = ["[mysqld]", *(f"{key}={value}" for key, value in settings.items())]
    return "\n".join(lines) + "\n"


def parse_memory(quantity: str) -> int:
    """A Kubernetes memory quantity in bytes (the config types already validated its shape)."""
    from components.config.types import parse_quantity

    return int(parse_quantity(quantity))
