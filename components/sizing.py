"""Process settings derived from container limits: PHP-FPM, OPcache, PHP memory, Varnish, nginx, DB connections.

Every number a generated server configuration holds about memory or processes comes from here, so that
changing a tier's limits in the site config re-derives what the processes inside may use. Each function is
pure (numbers in, numbers out) and raises `SizingError` naming the setting when the limit is too small to
run Magento at all, instead of writing a configuration that would be OOM-killed.

Stable names (other modules and branches import them):

* `mebibytes(quantity)`, `cores(quantity)`: Kubernetes quantities as numbers;
* `opcache_memory_mb(memory_limit)`: OPcache shared memory of one FPM pod (counted once, shared by children);
* `php_memory_limit_mb(memory_limit, opcache_mb)`: php.ini `memory_limit` of one web request;
* `fpm_max_children(memory_limit, child_mb, cpu_limit)`: `pm.max_children` of one pod;
* `fpm_pool(resources, child_mb)`: the whole `FpmSizing` (pm.* settings, memory_limit, OPcache);
* `cli_memory_limit_mb(memory_limit)`: php.ini `memory_limit` of cron, consumers and the release Job;
* `varnish_storage(memory_limit)`: `VarnishStorage` (malloc and Transient sizes below the limit);
* `nginx_workers(cpu_limit)`, `NGINX_WORKER_CONNECTIONS`;
* `database_connections(...)`, `site_database_connections(site) -> int`: what one site opens at most.

What one site runs is read from its config by `site_processes(site)`; see that function for the keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from components.config.base import ComputeResources
from components.config.types import parse_quantity

MIB = 1024 * 1024

# --- PHP-FPM ------------------------------------------------------------------------------------------
# What the FPM master, the PHP runtime mapped once per pod and the kernel's page cache of the code need
# outside the children and OPcache (measured ~20 MiB RSS for an idle php-fpm8.3 master; the rest is margin
# so that a child momentarily above its average does not OOM-kill the pod).
FPM_MASTER_MB = 32
FPM_HEADROOM = 0.10  # share of the limit kept free of children
# Requests are CPU bound while PHP renders and wait on MySQL/Valkey/OpenSearch otherwise: more than four
# children per core only queues work inside the pod that the HPA should see as CPU instead.
FPM_CHILDREN_PER_CORE = 4
FPM_MAX_REQUESTS = 500  # a child is recycled after this many requests (bounds slow leaks of extensions)
# Magento's own nginx.conf.sample passes memory_limit=756M to every web request; it is the ceiling here.
MAGENTO_WEB_MEMORY_LIMIT_MB = 756
MIN_WEB_MEMORY_LIMIT_MB = 256  # below this a storefront page of a real catalog does not render
# OPcache: Magento 2 compiles ~60k PHP files (generated/ included); 512 MB holds them with room, and a
# small pod gets an eighth of its limit (never below 128 MB: less thrashes on every deploy).
OPCACHE_MAX_MB = 512
OPCACHE_MIN_MB = 128
OPCACHE_SHARE = 0.125
OPCACHE_INTERNED_STRINGS_MB = 32
OPCACHE_MAX_ACCELERATED_FILES = 130987  # a prime above Magento's file count with generated code
# CLI (cron, consumers, release Job): Adobe's guidance is 2G for compile/deploy, more for indexers.
CLI_MEMORY_LIMIT_MAX_MB = 4096
CLI_OVERHEAD_MB = 64

# --- Varnish ------------------------------------------------------------------------------------------
# Fixed memory of varnishd besides storage: the manager process, two thread pools of `thread_pool_min`
# (100) threads with their stacks and workspaces, the VCL and the shared memory log (~84 MiB vsl+vsm).
VARNISH_FIXED_MB = 160
# Object overhead (~1 KiB per object) and jemalloc fragmentation take up to a quarter of malloc storage.
VARNISH_STORAGE_SHARE = 0.75
VARNISH_TRANSIENT_SHARE = 0.10  # short-lived and uncacheable objects (passes, hit-for-miss bodies)
VARNISH_TRANSIENT_MIN_MB = 32
VARNISH_MIN_STORAGE_MB = 64

# --- nginx --------------------------------------------------------------------------------------------
NGINX_WORKER_CONNECTIONS = 1024
NGINX_MAX_WORKERS = 8

# --- database connections -----------------------------------------------------------------------------
CONNECTIONS_PER_FPM_CHILD = 1  # one `default` connection per request; children serve one request at a time
CONNECTIONS_PER_CRON = 2  # cron:run opens `default` and, for indexers, `indexer` (env.php db.connection.indexer)
CONNECTIONS_PER_CONSUMER = 1
RELEASE_JOB_CONNECTIONS = 2  # setup:db:status then setup:upgrade, one Job at a time


class SizingError(ValueError):
    """A limit is too small for the process it must hold; the message names the setting."""


def mebibytes(quantity: str) -> int:
    """A memory quantity in whole MiB, rounded down ("1Gi" -> 1024, "1G" -> 953)."""
    return int(parse_quantity(quantity) // MIB)


def cores(quantity: str) -> float:
    """A CPU quantity in cores ("500m" -> 0.5)."""
    return float(parse_quantity(quantity))


def opcache_memory_mb(memory_limit: str) -> int:
    """OPcache shared memory of one FPM pod: an eighth of the pod's limit, between 128 and 512 MB (16 MB steps)."""
    share = int(mebibytes(memory_limit) * OPCACHE_SHARE) // 16 * 16
    return max(OPCACHE_MIN_MB, min(OPCACHE_MAX_MB, share))


def _child_budget_mb(memory_limit: str, opcache_mb: int) -> int:
    limit = mebibytes(memory_limit)
    return int(limit * (1 - FPM_HEADROOM)) - FPM_MASTER_MB - opcache_mb - OPCACHE_INTERNED_STRINGS_MB


def php_memory_limit_mb(memory_limit: str, opcache_mb: int) -> int:
    """php.ini `memory_limit` of a web request: Magento's 756M, lowered to what the pod can give one child."""
    budget = _child_budget_mb(memory_limit, opcache_mb)
    if budget < MIN_WEB_MEMORY_LIMIT_MB:
        raise SizingError(
            f"phpFpm memoryLimit {memory_limit} leaves {budget} MiB for a request after OPcache ({opcache_mb} MiB) "
            f"and the master; Magento needs at least {MIN_WEB_MEMORY_LIMIT_MB} MiB"
        )
    return min(MAGENTO_WEB_MEMORY_LIMIT_MB, budget)


def fpm_max_children(memory_limit: str, child_mb: int, cpu_limit: str, opcache_mb: int | None = None) -> int:
    """`pm.max_children`: children of `child_mb` average RSS that fit the limit, at most four per CPU core."""
    if child_mb <= 0:
        raise SizingError(f"phpFpm childMemory must be positive, got {child_mb} MiB")
    opcache = opcache_memory_mb(memory_limit) if opcache_mb is None else opcache_mb
    budget = _child_budget_mb(memory_limit, opcache)
    by_memory = budget // child_mb
    if by_memory < 1:
        raise SizingError(
            f"phpFpm memoryLimit {memory_limit} holds no child of {child_mb} MiB after OPcache ({opcache} MiB) and the master"
        )
    by_cpu = max(1, math.ceil(cores(cpu_limit) * FPM_CHILDREN_PER_CORE))
    return int(min(by_memory, by_cpu))


@dataclass(frozen=True)
class FpmSizing:
    """The PHP-FPM pool and php.ini numbers of one FPM pod."""

    max_children: int
    start_servers: int
    min_spare_servers: int
    max_spare_servers: int
    max_requests: int
    memory_limit_mb: int  # php.ini memory_limit of one request
    opcache_mb: int
    interned_strings_mb: int
    max_accelerated_files: int


def fpm_pool(resources: ComputeResources, child_mb: int) -> FpmSizing:
    """Every FPM setting of one pod from its container limits and the average size of a child."""
    opcache = opcache_memory_mb(resources.memory_limit)
    children = fpm_max_children(resources.memory_limit, child_mb, resources.cpu_limit, opcache)
    spare_min = max(1, children // 4)
    spare_max = max(spare_min, children // 2)
    return FpmSizing(
        max_children=children,
        start_servers=spare_min,
        min_spare_servers=spare_min,
        max_spare_servers=spare_max,
        max_requests=FPM_MAX_REQUESTS,
        memory_limit_mb=php_memory_limit_mb(resources.memory_limit, opcache),
        opcache_mb=opcache,
        interned_strings_mb=OPCACHE_INTERNED_STRINGS_MB,
        max_accelerated_files=OPCACHE_MAX_ACCELERATED_FILES,
    )


def cli_memory_limit_mb(memory_limit: str) -> int:
    """php.ini `memory_limit` of a CLI container (cron, consumer, release Job): its limit less the runtime, at most 4G."""
    budget = mebibytes(memory_limit) - CLI_OVERHEAD_MB
    if budget < MIN_WEB_MEMORY_LIMIT_MB:
        raise SizingError(f"memoryLimit {memory_limit} of a Magento CLI container leaves {budget} MiB; it needs {MIN_WEB_MEMORY_LIMIT_MB}")
    return min(CLI_MEMORY_LIMIT_MAX_MB, budget)


@dataclass(frozen=True)
class VarnishStorage:
    """varnishd `-s` sizes: `malloc_mb` for the cache, `transient_mb` bounding short-lived objects."""

    malloc_mb: int
    transient_mb: int

    def args(self) -> list[str]:
        return ["-s", f"default=malloc,{self.malloc_mb}m", "-s", f"Transient=malloc,{self.transient_mb}m"]


def varnish_storage(memory_limit: str) -> VarnishStorage:
    """Storage that keeps varnishd below its memory limit (unbounded Transient storage is the usual OOM)."""
    limit = mebibytes(memory_limit)
    available = limit - VARNISH_FIXED_MB
    transient = max(VARNISH_TRANSIENT_MIN_MB, int(available * VARNISH_TRANSIENT_SHARE))
    malloc = int((available - transient) * VARNISH_STORAGE_SHARE)
    if malloc < VARNISH_MIN_STORAGE_MB:
        raise SizingError(
            f"varnish memoryLimit {memory_limit} leaves {malloc} MiB of cache after {VARNISH_FIXED_MB} MiB for varnishd "
            f"and {transient} MiB Transient; give it at least {VARNISH_MIN_STORAGE_MB} MiB of cache"
        )
    return VarnishStorage(malloc_mb=malloc, transient_mb=transient)


def nginx_workers(cpu_limit: str) -> int:
    """nginx `worker_processes`: one per CPU core of the limit (rounded up), between 1 and 8."""
    return max(1, min(NGINX_MAX_WORKERS, math.ceil(cores(cpu_limit))))


# --- what one site runs, and the database connections that implies -----------------------------------


@dataclass(frozen=True)
class SiteProcesses:
    """The Magento processes of one site at its autoscaling maxima."""

    fpm_max_replicas: int
    fpm_children: int  # pm.max_children of one FPM pod
    cron_processes: int  # cron:run processes that can run at once (Forbid: 1; plus separate group processes)
    consumer_max_replicas: int  # summed over every consumer Deployment's autoscaling maximum


def database_connections(processes: SiteProcesses) -> int:
    """The most MySQL connections the site's processes open at once (the data layer adds its own margin)."""
    return (
        processes.fpm_max_replicas * processes.fpm_children * CONNECTIONS_PER_FPM_CHILD
        + processes.cron_processes * CONNECTIONS_PER_CRON
        + processes.consumer_max_replicas * CONNECTIONS_PER_CONSUMER
        + RELEASE_JOB_CONNECTIONS
    )


# Until the site model carries per-tier sizes (size classes, components/config/sites.py), a site is sized
# as the small class: these are its numbers, and the values the model's small class must keep.
SMALL_FPM = ComputeResources(cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi")
SMALL_FPM_CHILD_MB = 128
SMALL_FPM_MAX_REPLICAS = 4
SMALL_CONSUMER_MAX_REPLICAS = 6  # e.g. 6 consumer groups at max 1, or 3 at max 2


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = getattr(obj, key, None)
        if obj is None:
            return None
    return obj


def site_processes(site: Any) -> SiteProcesses:
    """The processes of one site from its config.

    Reads `site.tiers.php_fpm` (`resources`, `max_replicas`, `child_memory_mb`), `site.cron`
    (`separate_processes`: cron groups run as their own processes; none by default, cron runs with
    use_separate_process=0) and `site.consumers` (groups, each with `max_replicas` and the `consumers` its
    pod runs, one process each); a key the model does not have yet is taken from the small size class above.
    """
    fpm = _get(site, "tiers", "php_fpm")
    resources = _get(fpm, "resources") or SMALL_FPM
    child_mb = _get(fpm, "child_memory_mb") or SMALL_FPM_CHILD_MB
    replicas = _get(fpm, "max_replicas") or SMALL_FPM_MAX_REPLICAS
    cron_processes = 1 + (len(_get(site, "cron", "separate_processes") or ()))
    consumers = _get(site, "consumers")
    # a consumer group's pod runs one process per consumer it lists
    consumer_replicas = (
        sum(int(c.max_replicas) * len(getattr(c, "consumers", None) or [None]) for c in consumers)
        if consumers is not None
        else SMALL_CONSUMER_MAX_REPLICAS
    )
    return SiteProcesses(
        fpm_max_replicas=int(replicas),
        fpm_children=fpm_pool(resources, int(child_mb)).max_children,
        cron_processes=cron_processes,
        consumer_max_replicas=consumer_replicas,
    )


def site_database_connections(site: Any) -> int:
    """What one site's FPM children (at the HPA maximum), cron, consumers and release Job open at most."""
    return database_connections(site_processes(site))
