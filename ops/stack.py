"""The validated configuration of a stack, read from its stack file (no Pulumi CLI or engine needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.config import StackConfig, validate

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "magento"


def load(stack: str, root: Path = ROOT) -> StackConfig:
    """`Pulumi.<stack>.yaml`'s `magento:` settings, validated as `pulumi up` validates them (secrets aside)."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path.name} (stacks: {', '.join(sorted(p.name[7:-5] for p in root.glob('Pulumi.*.yaml')))})")
    document: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    values = {key.split(":", 1)[1]: value for key, value in (document.get("config") or {}).items()
              if key.startswith(f"{PROJECT}:")
              # secure values (`{secure: ...}`) are secrets, which nothing here reads
              and not (isinstance(value, dict) and set(value) == {"secure"})}
    return validate(json.loads(json.dumps(values)))
