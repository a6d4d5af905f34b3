"""Helpers for the networking, storage and edge tests: stack values, ordering, schema checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.config import ConfigError, validate
from offline.engine import Recorded, Recording
from offline.schemas import validate_objects
from offline.stackfile import ROOT


def stack_values(stack: str) -> dict[str, Any]:
    """The stack file's `magento:` settings without the prefix (a fresh copy to modify; engine settings such as
    `pulumi:disable-default-providers` are not the program's configuration)."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    # Only the program's own settings (`pulumi:` settings such as disable-default-providers are the engine's).
    return copy.deepcopy({key.split(":", 1)[1]: value for key, value in document["config"].items() if key.startswith("magento:")})


def problem_lines(values: dict[str, Any]) -> list[str]:
    """The configuration problems of invalid `values` as the user reads them, one line each (fails if valid)."""
    with pytest.raises(ConfigError) as error:
        validate(values)
    return [str(p) for p in error.value.problems]


def problems(values: dict[str, Any]) -> dict[str, str]:
    """The configuration problems of `values`, path -> message (empty when valid)."""
    try:
        validate({key: value for key, value in values.items() if ":" not in key})  # project settings only
    except ConfigError as exc:
        return {p.path: p.message for p in exc.problems}
    return {}


def _descendants(rec: Recording, urn: str) -> set[str]:
    found, frontier = set(), [urn]
    while frontier:
        current = frontier.pop()
        for child in rec.children(rec.by_urn[current]):
            if child.urn not in found:
                found.add(child.urn)
                frontier.append(child.urn)
    return found


def comes_after(rec: Recording, record: Recorded, target: Recorded) -> bool:
    """Whether `record` waits for `target`: through its own or its ancestors' dependencies, transitively,
    where depending on a component means waiting for everything inside it."""
    seen: set[str] = set()
    frontier = [record]
    while frontier:
        node = frontier.pop()
        for holder in (node, *rec.ancestors(node)):
            for dep in holder.dependencies:
                if dep in seen or dep not in rec.by_urn:
                    continue
                seen.add(dep)
                if dep == target.urn or target.urn in _descendants(rec, dep):
                    return True
                frontier.append(rec.by_urn[dep])
    return False


def schema_problems(records: list[Recorded]) -> list[str]:
    """Schema problems of the records' objects (custom resources only where ../shared/schemas exists;
    tests/test_checks.py::test_crd_schemas_are_present says so, as a skip, where it does not)."""
    problems, _ = validate_objects([r.inputs for r in records if r.is_kubernetes_object])
    return [str(p) for p in problems]


def in_layer(rec: Recording, layer: str) -> list[Recorded]:
    return [r for r in rec.resources if rec.layer_of(r) == layer]


def chart(rec: Recording, name: str) -> Recorded:
    return rec.named(name, "kubernetes:helm.sh/v4:Chart")


def kind(rec: Recording, kind_name: str) -> list[Recorded]:
    """The program's own objects of a kind (not those its charts render)."""
    return [r for r in rec.own_objects() if r.inputs.get("kind") == kind_name]


def rendered(rec: Recording, chart_name: str, kind_name: str | None = None) -> list[Recorded]:
    """The objects a chart renders, as the provider registers them (optionally of one kind)."""
    parent = chart(rec, chart_name).urn
    return [r for r in rec.rendered_objects() if r.rendered_by == parent and kind_name in (None, r.inputs.get("kind"))]
