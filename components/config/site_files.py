"""Site files: one store per file, `sites/stores/<environment>/<name>.yaml`, the same `Site` model as an
entry of the stack file's `sites` list.

The platform stack of an environment reads every site file of that environment as if it were listed
under `magento:sites` (so the data layer builds its tenancy and the edge its listeners); a store with
`deployment: stack` is then built by its own stack `<environment>-site-<name>` (sites/stack.py), which
reads the same file. `make new-site` writes both files (sites/onboard.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
STORES = "sites/stores"


def site_file(root: Path, environment: str, name: str) -> Path:
    return root / STORES / environment / f"{name}.yaml"


def read_site_file(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a site file holds one mapping (the site's settings)")
    return document


def site_files(environment: object, root: Path = ROOT) -> list[dict[str, Any]]:
    """The raw settings of every site file of `environment`, in name order (none when it is not a name)."""
    if not isinstance(environment, str) or not environment.isidentifier():
        return []
    directory = root / STORES / environment
    return [read_site_file(path) for path in sorted(directory.glob("*.yaml"))] if directory.is_dir() else []
