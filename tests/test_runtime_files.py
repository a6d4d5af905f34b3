"""The generated server files of every size class, checked by the real tools (nginx -t, varnishd -C,
php-fpm -t, shellcheck) and for the numbers sizing derives; the WAF init script run on a copy of the trees."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from components import sizing
from components.config.base import ComputeResources, sized
from components.config.model import Site
from sites import waf_config
from sites.runtime import nginx, php_fpm, varnish
from tests.servers import require_binary
from tests.servers.chain import fpm_binary

SITE = Site.model_validate(
    {"name": "demo", "domains": ["shop.example.com", "www.shop.example.com"], "image": {"repository": "harbor.example.com/sites/demo", "tag": "1.0.0"}}
)
# (nginx, php-fpm, child MiB, varnish memory limit) of the small, medium and large classes
CLASSES = {
    "small": (sized("100m", "64Mi", "500m", "128Mi"), sized("500m", "1Gi", "2", "2Gi"), 128, "1Gi"),
    "medium": (sized("200m", "128Mi", "1", "256Mi"), sized("1", "2Gi", "4", "4Gi"), 128, "2Gi"),
    "large": (sized("500m", "256Mi", "2", "512Mi"), sized("2", "4Gi", "8", "8Gi"), 160, "4Gi"),
}


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("size", CLASSES)
def test_nginx_conf_passes_nginx_t(size: str, tmp_path: Path) -> None:
    resources = CLASSES[size][0]
    text = nginx.nginx_conf(SITE, fpm_address="php-fpm.site-demo.svc.cluster.local:9000", resources=resources,
                            trusted_cidrs=["10.244.0.0/16"], temp_dir=str(tmp_path), error_log=str(tmp_path / "e.log"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text.replace("php-fpm.site-demo.svc.cluster.local:9000", "127.0.0.1:9000"))  # no DNS here
    result = _run([require_binary("nginx", "nginx"), "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)])
    assert result.returncode == 0, result.stderr
    assert f"worker_processes {sizing.nginx_workers(resources.cpu_limit)};" in text
    assert "static.php" not in text  # static files never go to PHP
    assert "set_real_ip_from 10.244.0.0/16;" in text and "server_name shop.example.com www.shop.example.com;" in text
    assert "user " not in re.sub(r"#.*", "", text).split("http {")[0]  # unprivileged: no user directive


@pytest.mark.parametrize("size", CLASSES)
def test_fpm_conf_and_php_ini_pass_php_fpm_t(size: str, tmp_path: Path) -> None:
    fpm_resources: ComputeResources = CLASSES[size][1]
    pool = sizing.fpm_pool(fpm_resources, CLASSES[size][2])
    conf = tmp_path / "php-fpm.conf"
    conf.write_text(php_fpm.fpm_conf(SITE, pool, error_log=str(tmp_path / "fpm.log")) + "user = nobody\n")  # root in CI
    ini = tmp_path / "php.ini"
    ini.write_text(php_fpm.php_ini(SITE, pool))
    result = _run([fpm_binary(), "-t", "-y", str(conf), "-c", str(ini)])
    assert result.returncode == 0, result.stderr + result.stdout
    text = conf.read_text()
    assert f"pm.max_children = {pool.max_children}" in text
    assert f"opcache.memory_consumption = {pool.opcache_mb}" in ini.read_text()
    # PHP reads the ini as written
    php = require_binary("php", "php-cli")
    shown = _run([php, "-n", "-c", str(ini), "-r", "echo ini_get('memory_limit'), ' ', ini_get('realpath_cache_size');"])
    assert shown.stdout == f"{pool.memory_limit_mb}M 10M"


def test_cli_ini_memory_limit_follows_the_container() -> None:
    text = php_fpm.php_cli_ini(SITE, "2Gi")
    assert f"memory_limit = {sizing.cli_memory_limit_mb('2Gi')}M" in text and "opcache.enable_cli = 1" in text


@pytest.mark.parametrize("size", CLASSES)
def test_vcl_compiles_and_storage_fits(size: str) -> None:
    # varnishd started as root reads the VCL as its own user: a directory it can enter (not pytest's 0700 one)
    with tempfile.TemporaryDirectory(prefix="vcl-") as work:
        os.chmod(work, 0o755)
        vcl = Path(work) / "default.vcl"
        # varnishd resolves the backend host when it loads the VCL: no cluster DNS here
        vcl.write_text(varnish.varnish_vcl(SITE, backend_host="127.0.0.1", backend_port=8080, purge_acl=["10.244.0.0/16"]))
        vcl.chmod(0o644)
        result = _run([require_binary("varnishd", "varnish"), "-C", "-f", str(vcl), "-n", str(Path(work) / "n")])
    assert result.returncode == 0, result.stderr[-2000:]
    args = varnish.varnishd_args(CLASSES[size][3])
    storage = sizing.varnish_storage(CLASSES[size][3])
    assert f"default=malloc,{storage.malloc_mb}m" in args and f"Transient=malloc,{storage.transient_mb}m" in args
    assert "purge=:6091,HTTP" in args


def test_vcl_purges_only_on_the_purge_listener_from_the_acl_and_hashes_the_scheme() -> None:
    text = varnish.varnish_vcl(SITE, backend_host="nginx", backend_port=8080, purge_acl=["10.244.0.0/16", "10.96.0.10"])
    assert '"10.244.0.0"/16;' in text and '"10.96.0.10";' in text
    assert 'local.socket != "purge" || client.ip !~ purge' in text
    assert '.url = "/health_check.php";' in text
    assert "hash_data(req.http.X-Forwarded-Proto);" in text
    with pytest.raises(ValueError, match="purge ACL"):
        varnish.varnish_vcl(SITE, backend_host="nginx", backend_port=8080, purge_acl=[])


def test_waf_init_script_copies_the_trees(tmp_path: Path) -> None:
    script = waf_config.init_copy_script()
    checked = subprocess.run([require_binary("shellcheck", "shellcheck"), "-s", "sh", "-"], input=script, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout
    root = str(tmp_path)
    for path in waf_config.CONFIG_TREES.values():
        (tmp_path / path.lstrip("/") / "conf.d").mkdir(parents=True)
        (tmp_path / path.lstrip("/") / "conf.d" / "x.conf").write_text("x\n")
    for volume in {**waf_config.CONFIG_TREES, **waf_config.SCRATCH_PATHS}:
        (tmp_path / waf_config.SEED_ROOT.lstrip("/") / volume).mkdir(parents=True)
    (tmp_path / "etc/modsecurity.d/owasp-crs").symlink_to("/opt/owasp-crs")  # as in the image
    result = subprocess.run(["sh", "-c", waf_config.init_copy_script(root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seed = tmp_path / waf_config.SEED_ROOT.lstrip("/")
    for volume in waf_config.CONFIG_TREES:
        assert (seed / volume / "conf.d" / "x.conf").read_text() == "x\n"
    assert (seed / "modsecurity-conf" / "owasp-crs").is_symlink()  # resolves to the crs emptyDir in the pod
    assert (seed / "tmp" / "modsecurity" / "upload").is_dir() and (seed / "modsecurity-log" / "audit").is_dir()
