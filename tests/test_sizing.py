"""Process settings derived from limits (components/sizing.py): each function, its bounds and its errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from components import sizing
from components.config.base import sized
from components.config.model import Site

LIMITS = ["512Mi", "1Gi", "2Gi", "3Gi", "4Gi", "8Gi", "16Gi"]


def test_quantities_as_numbers() -> None:
    assert sizing.mebibytes("1Gi") == 1024
    assert sizing.mebibytes("1G") == 953  # decimal gigabyte, rounded down
    assert sizing.mebibytes("1536Mi") == 1536
    assert sizing.cores("500m") == 0.5
    assert sizing.cores("2") == 2.0


@pytest.mark.parametrize("limit", LIMITS)
def test_opcache_is_an_eighth_of_the_pod_within_bounds(limit: str) -> None:
    mb = sizing.opcache_memory_mb(limit)
    assert sizing.OPCACHE_MIN_MB <= mb <= sizing.OPCACHE_MAX_MB
    assert mb % 16 == 0
    if sizing.OPCACHE_MIN_MB < sizing.mebibytes(limit) / 8 < sizing.OPCACHE_MAX_MB:
        assert mb == sizing.mebibytes(limit) // 8 // 16 * 16


def test_opcache_examples() -> None:
    assert sizing.opcache_memory_mb("512Mi") == 128  # floor
    assert sizing.opcache_memory_mb("2Gi") == 256
    assert sizing.opcache_memory_mb("16Gi") == 512  # ceiling


@pytest.mark.parametrize("limit", ["1Gi", "2Gi", "4Gi", "8Gi"])
@pytest.mark.parametrize("child_mb", [64, 128, 256])
def test_children_and_opcache_fit_the_memory_limit(limit: str, child_mb: int) -> None:
    pool = sizing.fpm_pool(sized("1", "1Gi", "64", limit), child_mb)  # CPU high: memory decides
    used = pool.max_children * child_mb + pool.opcache_mb + pool.interned_strings_mb + sizing.FPM_MASTER_MB
    assert used <= sizing.mebibytes(limit) * (1 - sizing.FPM_HEADROOM)
    # one more child would not fit
    assert used + child_mb > sizing.mebibytes(limit) * (1 - sizing.FPM_HEADROOM) - 1
    assert pool.min_spare_servers <= pool.start_servers <= pool.max_spare_servers <= pool.max_children


def test_children_capped_per_core() -> None:
    assert sizing.fpm_max_children("8Gi", 64, "1") == sizing.FPM_CHILDREN_PER_CORE
    assert sizing.fpm_max_children("8Gi", 64, "500m") == 2
    assert sizing.fpm_max_children("8Gi", 64, "2500m") == 10


def test_small_class_pool() -> None:
    # 2Gi: OPcache 256, children budget 2048*0.9 - 32 - 256 - 32 = 1523 MiB -> 11 by memory, 8 by 2 cores.
    pool = sizing.fpm_pool(sizing.SMALL_FPM, sizing.SMALL_FPM_CHILD_MB)
    assert (pool.max_children, pool.opcache_mb, pool.memory_limit_mb) == (8, 256, 756)
    assert (pool.start_servers, pool.min_spare_servers, pool.max_spare_servers) == (2, 2, 4)


def test_memory_limit_is_magentos_756m_or_what_fits() -> None:
    assert sizing.php_memory_limit_mb("4Gi", 512) == sizing.MAGENTO_WEB_MEMORY_LIMIT_MB
    # 1Gi: 921 - 32 - 128 - 32 = 729 < 756
    assert sizing.php_memory_limit_mb("1Gi", 128) == 729


def test_too_small_fpm_limits_are_refused_naming_the_key() -> None:
    with pytest.raises(sizing.SizingError, match="phpFpm memoryLimit 384Mi"):
        sizing.php_memory_limit_mb("384Mi", 128)
    with pytest.raises(sizing.SizingError, match="phpFpm memoryLimit 256Mi holds no child"):
        sizing.fpm_max_children("256Mi", 128, "1")
    with pytest.raises(sizing.SizingError, match="childMemory"):
        sizing.fpm_max_children("2Gi", 0, "1")


def test_cli_memory_limit() -> None:
    assert sizing.cli_memory_limit_mb("1Gi") == 960
    assert sizing.cli_memory_limit_mb("8Gi") == sizing.CLI_MEMORY_LIMIT_MAX_MB
    with pytest.raises(sizing.SizingError, match="CLI container"):
        sizing.cli_memory_limit_mb("256Mi")


@pytest.mark.parametrize("limit", ["512Mi", "1Gi", "2Gi", "4Gi", "16Gi"])
def test_varnish_storage_stays_below_its_limit(limit: str) -> None:
    storage = sizing.varnish_storage(limit)
    total = storage.malloc_mb + storage.transient_mb + sizing.VARNISH_FIXED_MB
    assert total < sizing.mebibytes(limit)
    # the malloc overhead share is left free on top of the fixed part
    assert storage.malloc_mb <= (sizing.mebibytes(limit) - sizing.VARNISH_FIXED_MB) * sizing.VARNISH_STORAGE_SHARE
    assert storage.transient_mb >= sizing.VARNISH_TRANSIENT_MIN_MB
    assert storage.args() == ["-s", f"default=malloc,{storage.malloc_mb}m", "-s", f"Transient=malloc,{storage.transient_mb}m"]


def test_varnish_storage_example_and_refusal() -> None:
    # 1Gi: 1024 - 160 = 864; Transient 86; malloc (864 - 86) * 0.75 = 583
    assert sizing.varnish_storage("1Gi") == sizing.VarnishStorage(malloc_mb=583, transient_mb=86)
    with pytest.raises(sizing.SizingError, match="varnish memoryLimit 256Mi"):
        sizing.varnish_storage("256Mi")


@pytest.mark.parametrize(("cpu", "workers"), [("100m", 1), ("1", 1), ("1500m", 2), ("4", 4), ("32", 8)])
def test_nginx_workers(cpu: str, workers: int) -> None:
    assert sizing.nginx_workers(cpu) == workers


def test_database_connections_add_every_process() -> None:
    procs = sizing.SiteProcesses(fpm_max_replicas=3, fpm_children=10, cron_processes=2, consumer_max_replicas=5)
    # 3*10 FPM + 2 cron * 2 + 5 consumers + 2 release
    assert sizing.database_connections(procs) == 41


def _site() -> Site:
    return Site.model_validate(
        {"name": "demo", "domains": ["shop.example.com"], "image": {"repository": "harbor.example.com/sites/demo", "tag": "1.0.0"}}
    )


def test_site_database_connections_of_a_site_from_config() -> None:
    site = _site()
    # the small class: 4 FPM pods x 8 children (2 cores x 4; 2Gi holds 11), cron:run opens 2, the release Job 2
    groups = getattr(site, "consumers", None)
    consumer_processes = sum(g.max_replicas * len(g.consumers) for g in groups) if groups is not None else 6
    assert sizing.site_database_connections(site) == 4 * 8 + 2 + consumer_processes + 2


def test_site_database_connections_follow_tier_limits() -> None:
    fpm = SimpleNamespace(resources=sized("1", "2Gi", "4", "4Gi"), max_replicas=6, child_memory_mb=160)
    site = SimpleNamespace(
        tiers=SimpleNamespace(php_fpm=fpm),
        cron=SimpleNamespace(separate_processes=["index"]),
        consumers=[SimpleNamespace(max_replicas=2, consumers=["a", "b"]), SimpleNamespace(max_replicas=3, consumers=["c"])],
    )
    children = sizing.fpm_pool(fpm.resources, 160).max_children
    assert children == 16  # 4 cores x 4 (memory would allow (3686 - 32 - 512 - 32) // 160 = 19)
    # 6 x 16 FPM + 2 cron processes x 2 + (2 x 2 + 3 x 1) consumer processes + 2 release
    assert sizing.site_database_connections(site) == 6 * 16 + 2 * 2 + 7 + 2
