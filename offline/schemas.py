"""Schema validation of rendered Kubernetes objects.

Core kinds validate against the Kubernetes 1.36 OpenAPI schema (`kubernetes-validate`, strict: unknown
fields are errors). Custom resources validate against the CRD schemas in `../shared/schemas/crds`
(`<group>/<kind>_<version>.json`), read from there and never copied into this repository; set
MAGENTO_CRD_SCHEMAS to read them from elsewhere.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing

KUBERNETES_SCHEMA_VERSION = "1.36"
CRD_SCHEMAS = Path(os.environ.get("MAGENTO_CRD_SCHEMAS", Path(__file__).resolve().parent.parent.parent / "shared" / "schemas" / "crds"))


@dataclass(frozen=True)
class ObjectProblem:
    """A problem with one Kubernetes object (schema or reference)."""

    object_ref: str
    message: str

    def __str__(self) -> str:
        return f"{self.object_ref}: {self.message}"


def object_ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


# Groups under k8s.io that are CRDs, not built into the API server.
CRD_GROUPS_UNDER_K8S_IO = frozenset({"gateway.networking.k8s.io", "snapshot.storage.k8s.io", "groupsnapshot.storage.k8s.io"})


def is_core(api_version: str) -> bool:
    """Whether a group is served by Kubernetes itself (validated by kubernetes-validate)."""
    group = api_version.rpartition("/")[0]
    if group in CRD_GROUPS_UNDER_K8S_IO:
        return False
    return "." not in group or group.endswith(".k8s.io")


def crd_schema_path(api_version: str, kind: str) -> Path:
    group, version = api_version.split("/")
    return CRD_SCHEMAS / group / f"{kind.lower()}_{version}.json"


def _kubernetes_schema(name: str) -> Any:
    ref = importlib.resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{KUBERNETES_SCHEMA_VERSION}.0-local-strict/{name}"
    )
    return json.loads(ref.read_text())


@functools.cache
def _definitions_document() -> Any:
    """`_definitions.json` (~1 MB), parsed once per process."""
    return _kubernetes_schema("_definitions.json")


@functools.cache
def _core_definitions() -> referencing.Registry:
    return referencing.Resource.from_contents(_definitions_document()) @ referencing.Registry()


DEFINITIONS = "#/$defs/"
ANNOTATIONS = re.compile(r"^(description|x-kubernetes-.*)$")  # keywords beside a $ref that validate nothing


def inline_definitions(node: Any, definitions: dict[str, Any], inlined: dict[str, Any] | None = None) -> Any:
    """`node` with every `$ref` into the definitions replaced by the definition itself, each inlined once and
    shared (a recursive definition becomes a cycle, which the validator only follows as deep as the object).

    Beside a `$ref` the Kubernetes schemas put only annotations (`description`, `x-kubernetes-*`), so the
    inlined schema admits and rejects exactly what the referencing one does, with the same first error at
    the same path; it saves the registry lookup and resolver of each `$ref` the validator meets (a quarter
    of the schema check's time, tens of thousands per stack)."""
    inlined = {} if inlined is None else inlined
    if isinstance(node, list):
        return [inline_definitions(item, definitions, inlined) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and DEFINITIONS in ref:
        beside = [key for key in node if key != "$ref" and not ANNOTATIONS.match(key)]
        if beside:
            raise ValueError(f"a $ref to {ref} beside {beside}: not only annotations, cannot inline")
        name = ref.split(DEFINITIONS, 1)[1]
        if name not in inlined:
            inlined[name] = {}  # filled in below; a reference to it from inside itself shares it
            inlined[name].update(inline_definitions(definitions[name], definitions, inlined))
        return inlined[name]
    return {key: inline_definitions(value, definitions, inlined) for key, value in node.items()}


@functools.cache
def _inlined_definitions() -> dict[str, Any]:
    """Every definition inlined once per process, shared by the validators of every kind."""
    definitions = _definitions_document()["$defs"]
    inlined: dict[str, Any] = {}
    for name in definitions:
        inline_definitions({"$ref": DEFINITIONS + name}, definitions, inlined)
    return inlined


@functools.cache
def _core_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The strict Kubernetes schema of a kind, resolved once per process, its definitions inlined.

    The same files and draft `kubernetes_validate.validate(obj, version, strict=True)` uses; that function
    reads and parses the schema and its ~1 MB of definitions again for every object, which was the plan's
    largest single cost (benchmarks/plan_scaling.py). `reference_validator` is the same schema by `$ref`."""
    schema = inline_definitions(_kind_schema(api_version, kind), _definitions_document()["$defs"], _inlined_definitions())
    return jsonschema.validators.Draft202012Validator(schema)


def _kind_schema(api_version: str, kind: str) -> Any:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _kubernetes_schema(f"{kind.lower()}-{group_version}.json")


def reference_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The kind's schema as published, its `$ref`s resolved through a registry of the definitions."""
    schema = _kind_schema(api_version, kind)
    registry = referencing.Resource.from_contents(schema) @ _core_definitions()
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.cache
def _crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def installed_crd_schemas(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD among the objects (what the program installs)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                found[(f"{spec.get('group')}/{version.get('name')}", (spec.get("names") or {}).get("kind", ""))] = schema
    return found


def validate_object(obj: dict[str, Any], installed: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[ObjectProblem]:
    """Problems with one object; empty when it is valid. A custom resource without a schema in ../shared/schemas
    is validated against the CRD the program itself installs (`installed`), when it installs one."""
    ref = object_ref(obj)
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if not (obj.get("metadata") or {}).get("name"):
        return [ObjectProblem(ref, "metadata.name is missing (every object is named explicitly)")]
    if is_core(api_version):
        try:
            validator = _core_validator(api_version, kind)
        except FileNotFoundError:
            return [ObjectProblem(ref, f"no Kubernetes {KUBERNETES_SCHEMA_VERSION} schema for {api_version} {kind}")]
        error = next(iter(validator.iter_errors(obj)), None)  # the first error, as Validator.validate raises it
        if error is None:
            return []
        path = ".".join(str(p) for p in error.path)
        return [ObjectProblem(ref, f"{path}: {error.message}" if path else error.message)]
    path = crd_schema_path(api_version, kind)
    if path.exists():
        validator = _crd_validator(path)
    elif installed and (api_version, kind) in installed:
        schema = installed[(api_version, kind)]
        validator = jsonschema.validators.validator_for(schema)(schema)
    else:
        return [ObjectProblem(ref, f"no CRD schema at {path} (is ../shared/schemas present?)")]
    return [
        ObjectProblem(ref, f"{'.'.join(str(p) for p in err.absolute_path) or '(root)'}: {err.message}")
        for err in validator.iter_errors(obj)
    ]


def crd_schemas_available() -> bool:
    return CRD_SCHEMAS.is_dir()


def validate_objects(objects: list[dict[str, Any]], crds: list[dict[str, Any]] | None = None) -> tuple[list[ObjectProblem], int]:
    """Validate objects; custom resources are skipped (and counted) when the CRD schemas are absent. CRDs among
    `objects` and `crds` (those the program installs) stand in for schemas ../shared/schemas does not have.

    Returns (problems, number of custom resources not validated).
    """
    installed = installed_crd_schemas([*objects, *(crds or [])])
    if not crd_schemas_available():
        skipped = sum(1 for o in objects if not is_core(o.get("apiVersion", "")))
        objects = [o for o in objects if is_core(o.get("apiVersion", ""))]
    else:
        skipped = 0
    return [p for obj in objects for p in validate_object(obj, installed)], skipped
