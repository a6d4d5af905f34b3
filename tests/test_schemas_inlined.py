"""The schema check validates Kubernetes objects against their kind's schema with the definitions inlined
(`offline.schemas.inline_definitions`, for the plan's time). Here it is held to the schema as published, its
`$ref`s resolved through a registry: every object of the prod stack, and each one broken in several ways, gets
the same first error at the same path from both, or passes both."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline import schemas


def first_error(validator: Any, obj: dict[str, Any]) -> tuple[list[Any], str] | None:
    error = next(iter(validator.iter_errors(obj)), None)
    return None if error is None else (list(error.path), error.message)


def broken(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The object with a field the strict schema does not know, at the top and in its spec or data; a
    wrongly typed name; its spec's first list emptied of a required field (where there is one)."""
    variants = []
    unknown = copy.deepcopy(obj)
    unknown["unknownField"] = 1
    variants.append(unknown)
    nested = copy.deepcopy(obj)
    for key in ("spec", "data", "rules", "webhooks"):
        if isinstance(nested.get(key), dict):
            nested[key]["unknownField"] = True
            break
        if isinstance(nested.get(key), list) and nested[key] and isinstance(nested[key][0], dict):
            nested[key][0]["unknownField"] = True
            break
    if nested != obj:
        variants.append(nested)
    typed = copy.deepcopy(obj)
    typed["metadata"]["name"] = 42
    variants.append(typed)
    pod = copy.deepcopy(obj)
    template = ((pod.get("spec") or {}).get("template") or {}).get("spec") or (pod.get("spec") or {})
    containers = template.get("containers") if isinstance(template, dict) else None
    if isinstance(containers, list) and containers:
        containers[0].pop("name", None)
        containers[0]["resources"] = {"limits": {"cpu": ["not", "a", "quantity"]}}
        variants.append(pod)
    return variants


@pytest.mark.parametrize("broken_too", [False, True], ids=["as-planned", "broken"])
def test_inlined_definitions_judge_every_object_as_the_published_schema_does(prod, broken_too):
    objects = [r.inputs for r in prod.resources if r.is_kubernetes_object and schemas.is_core(r.inputs.get("apiVersion", ""))]
    validators: dict[tuple[str, str], tuple[Any, Any]] = {}
    compared = failing = 0
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key not in validators:
            validators[key] = (schemas._core_validator(*key), schemas.reference_validator(*key))
        inlined, published = validators[key]
        for candidate in broken(obj) if broken_too else [obj]:
            expected = first_error(published, candidate)
            assert first_error(inlined, candidate) == expected, (key, obj["metadata"].get("name"))
            compared += 1
            failing += expected is not None
    assert len(validators) >= 20
    if broken_too:
        assert failing == compared > 2000  # every broken object is refused, by both
    else:
        assert compared > 500 and failing == 0


def test_a_reference_beside_a_validating_keyword_is_not_inlined():
    definitions = {"A": {"type": "string"}}
    assert schemas.inline_definitions({"$ref": "#/$defs/A", "description": "d"}, definitions) == {"type": "string"}
    with pytest.raises(ValueError, match="not only annotations"):
        schemas.inline_definitions({"$ref": "#/$defs/A", "maxLength": 3}, definitions)
    cyclic = schemas.inline_definitions({"$ref": "#/$defs/B"}, {"B": {"items": {"$ref": "#/$defs/B"}}})
    assert cyclic["items"] is cyclic
