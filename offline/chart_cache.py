"""The chart cache: every pinned chart (`<chart>-<version>.tgz`) and release manifest
(`<name>-<version>.yaml`) the offline plan renders from.

Where it is: the `MAGENTO_CHART_CACHE` environment variable (or `make plan CHARTS=/path`), else
`../shared/charts` beside the project when that folder exists, else `~/.cache/magento-platform/charts`.
A chart missing from the cache is pulled into it (`helm pull`, or a download for a manifest) where the
network allows; when it cannot be had, `ChartUnavailableError` names the chart and how to get it, and the plan
fails (never a silent skip). `python -m offline.chart_cache` (`make charts`) pulls every pin. Charts are
never committed to the project.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from pathlib import Path

from components import versions
from offline.helm import HelmError, run_helm
from offline.stackfile import ROOT

SHARED_CACHE = ROOT.parent / "shared" / "charts"
USER_CACHE = Path.home() / ".cache" / "magento-platform" / "charts"
DOWNLOAD_TIMEOUT = 60


class ChartUnavailableError(RuntimeError):
    """A pinned chart or manifest is neither in the cache nor obtainable here."""


def cache_dir() -> Path:
    configured = os.environ.get("MAGENTO_CHART_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return SHARED_CACHE if SHARED_CACHE.is_dir() else USER_CACHE


def chart_file(pin: versions.ChartPin, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / f"{pin.chart}-{pin.version}.tgz"


def manifest_file(pin: versions.ManifestPin, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / f"{pin.name}-{pin.version}.yaml"


def pin_for_chart(chart: str, version: str, repository: str) -> versions.ChartPin | None:
    """The pin a registered Chart's inputs come from (`chart` is `name`, or `oci://.../name` for OCI)."""
    name = chart.rsplit("/", 1)[-1]
    for pin in versions.CHARTS.values():
        if pin.chart == name and pin.version == version and (chart.startswith("oci://") or pin.repo == repository):
            return pin
    return None


def pin_for_manifest(url: str) -> versions.ManifestPin | None:
    return next((pin for pin in versions.MANIFESTS.values() if pin.url == url), None)


def _how_to_get(pin: versions.ChartPin) -> str:
    source = f"{pin.repo}/{pin.chart}" if pin.repo.startswith("oci://") else f"{pin.chart} --repo {pin.repo}"
    return f"helm pull {source} --version {pin.version} -d {cache_dir()}  (or `make charts` on a machine with network)"


def ensure_chart(pin: versions.ChartPin) -> Path:
    """The cached chart archive, pulled into the cache first when missing."""
    path = chart_file(pin)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if pin.repo.startswith("oci://"):
        args = ["pull", f"{pin.repo}/{pin.chart}", "--version", pin.version, "-d", str(path.parent)]
    else:
        args = ["pull", pin.chart, "--repo", pin.repo, "--version", pin.version, "-d", str(path.parent)]
    try:
        run_helm(args)
    except HelmError as exc:
        raise ChartUnavailableError(
            f"chart {pin.chart} {pin.version} is not in the chart cache {path.parent} and could not be pulled "
            f"({exc}); get it with: {_how_to_get(pin)}"
        ) from None
    if not path.is_file():
        raise ChartUnavailableError(f"helm pull of {pin.chart} {pin.version} did not produce {path.name}; {_how_to_get(pin)}")
    return path


def ensure_manifest(pin: versions.ManifestPin) -> Path:
    """The cached release manifest, downloaded into the cache first when missing."""
    path = manifest_file(pin)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(pin.url, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read()
    except OSError as exc:
        raise ChartUnavailableError(
            f"manifest {pin.name} {pin.version} is not in the chart cache {path.parent} and could not be downloaded "
            f"({exc}); get it with: curl -fsSLo {path} {pin.url}"
        ) from None
    path.write_bytes(data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make charts", description="Pull every pinned chart and manifest into the chart cache.")
    parser.parse_args(argv)
    print(f"chart cache: {cache_dir()}")
    failed = 0
    for key, pin in versions.CHARTS.items():
        try:
            print(f"  {key}: {ensure_chart(pin).name}")
        except ChartUnavailableError as exc:
            failed += 1
            print(f"  {key}: {exc}", file=sys.stderr)
    for key, manifest in versions.MANIFESTS.items():
        try:
            print(f"  {key}: {ensure_manifest(manifest).name}")
        except ChartUnavailableError as exc:
            failed += 1
            print(f"  {key}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
