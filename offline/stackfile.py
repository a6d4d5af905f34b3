"""Stack files as the CLI would hand them to the program, without the CLI.

Reads `Pulumi.yaml` (project name, declared settings and their defaults) and `Pulumi.<stack>.yaml`,
turns every value into the string form the engine passes (structured values as JSON), applies the
declared defaults, and replaces every secret (a `secure:` value, or a secret setting the stack file
cannot hold) with a placeholder that is marked secret and never printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config import SECRET_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    config: dict[str, str]  # "project:key" -> value as the engine passes it
    secret_keys: tuple[str, ...]


def placeholder(key: str) -> str:
    return f"offline-placeholder-{key}"


def _wire(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def project_file(root: Path = ROOT) -> dict[str, Any]:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


def settings_from_values(
    values: dict[str, Any], *, stack: str = "test", root: Path = ROOT, with_secret_placeholders: bool = True
) -> StackSettings:
    """Settings from a mapping of un-namespaced keys (`hosts`, `cluster`, ...) as a stack file holds them."""
    project = project_file(root)
    name = project["name"]
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[f"{name}:{key}"] = _wire(declaration["default"])
    for key, value in values.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = placeholder(key.split(":")[-1])
            secret_keys.add(full)
        else:
            config[full] = _wire(value)
    if with_secret_placeholders:
        for key in SECRET_SETTINGS:
            full = f"{name}:{key}"
            if key != "kubeconfig" and full not in config:
                config[full] = placeholder(key)
            if full in config:
                secret_keys.add(full)
    return StackSettings(name, stack, config, tuple(sorted(secret_keys)))


def load_stack(stack: str, root: Path = ROOT) -> StackSettings:
    """Settings of `Pulumi.<stack>.yaml`, ready for `pulumi.runtime.set_all_config`."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {root}")
    return load_stack_file(path, root, stack=stack)


def load_stack_file(path: Path, root: Path = ROOT, stack: str | None = None) -> StackSettings:
    """Settings of any stack-shaped YAML file (the fixtures under tests/fixtures are named by their stem)."""
    document = yaml.safe_load(path.read_text()) or {}
    return settings_from_values(document.get("config") or {}, stack=stack or path.stem, root=root)
