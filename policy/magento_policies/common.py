"""Helpers shared by the policies: reading (possibly unknown) properties, scoping, reviewed exceptions.

Properties reach a policy as the SDK's read-only proxies (`Mapping` / `Sequence`, not dict / list);
reading a value that is unknown during preview raises `UnknownValueError`. `get()` and `walk()` read
through them and treat an unknown value as absent where a policy can still decide without it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyConfigSchema
from pulumi_policy.proxy import UnknownValueError

from .defaults import PART_OF, PART_OF_LABEL, REVIEWED_EXCEPTIONS, SITE_NAMESPACE_PREFIX

UNKNOWN = object()

# Resources rendered by these components are third-party objects (a chart's or a manifest's), not ours.
RENDERER_TYPES = frozenset(
    {
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:helm.sh/v3:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:yaml:ConfigGroup",
        "kubernetes:yaml:ConfigFile",
        "kubernetes:kustomize/v2:Directory",
        "kubernetes:kustomize:Directory",
    }
)


def is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` when a step is missing; UNKNOWN when a value is unknown."""
    current = obj
    for key in path:
        try:
            if isinstance(key, int):
                if not is_list(current) or key >= len(current):
                    return default
            elif not is_mapping(current):
                return default
            current = current[key]  # one lookup (`key in` a proxy would be a second)
        except KeyError:
            return default
        except UnknownValueError:
            return UNKNOWN
    return default if current is None else current


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar under `value` with its path, depth first in order; unknown values are skipped. A loop over a
    stack of what is left, not nested generators (which pass each scalar up through every level)."""
    left: list[tuple[str, Any]] = [(path, value)]
    while left:
        path, value = left.pop()
        children: list[tuple[str, Any]] = []
        if is_mapping(value):
            for key in value:
                try:
                    children.append((f"{path}.{key}" if path else str(key), value[key]))
                except UnknownValueError:
                    continue
        elif is_list(value):
            for index in range(len(value)):
                try:
                    children.append((f"{path}[{index}]", value[index]))
                except UnknownValueError:
                    continue
        else:
            yield path, value
            continue
        left.extend(reversed(children))


def urn_types(urn: str) -> list[str]:
    """The qualified type chain of a URN (`parent$child$type`), outermost first."""
    parts = urn.split("::")
    return parts[2].split("$") if len(parts) >= 4 else []


def rendered_by_component(urn: str) -> bool:
    """Whether the engine registered this object as a child of a chart / manifest component."""
    return any(t in RENDERER_TYPES for t in urn_types(urn)[:-1])


# ------------------------------------------------------------------------------------------ config


def config_value(config: Mapping[str, Any] | None, key: str, default: Any) -> Any:
    """A policy's configured value, or the pack default (the CLI applies schema defaults; the SDK does not)."""
    if config and key in config and config[key] is not None:
        return config[key]
    return default


EXCEPTIONS_PROPERTY: dict[str, Any] = {
    "type": "array",
    "description": "Reviewed exceptions: objects this policy does not apply to, each with the reason it was granted.",
    "default": [],
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["namespace", "reason"],
        "properties": {
            "namespace": {"type": "string", "description": "namespace (glob, e.g. site-* or a name)"},
            "name": {"type": "string", "description": "object name (glob), default *", "default": "*"},
            "kind": {"type": "string", "description": "object kind (e.g. DaemonSet), default *", "default": "*"},
            "reason": {"type": "string", "minLength": 10, "description": "why, and who reviewed it"},
        },
    },
}


def string_list(default: list[str], description: str) -> dict[str, Any]:
    """A config property holding a list of strings."""
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


def schema(policy: str, properties: dict[str, dict[str, Any]] | None = None, *, exceptions: bool = True) -> PolicyConfigSchema:
    """A config schema with the policy's own properties, plus `exceptions` defaulting to its reviewed list."""
    extra = {"exceptions": {**EXCEPTIONS_PROPERTY, "default": REVIEWED_EXCEPTIONS.get(policy, [])}} if exceptions else {}
    return PolicyConfigSchema(properties={**(properties or {}), **extra})


@dataclass(frozen=True)
class ObjectRef:
    """Who a Kubernetes object is: kind, namespace, name, labels, and whether a chart rendered it."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, Any]
    rendered: bool

    @property
    def own(self) -> bool:
        """Ours: registered by the program itself (not a chart's child), labelled part of the platform, or in a site namespace."""
        return not self.rendered or self.labels.get(PART_OF_LABEL) == PART_OF or self.namespace.startswith(SITE_NAMESPACE_PREFIX)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def object_ref(props: Mapping[str, Any], urn: str) -> ObjectRef:
    labels = get(props, "metadata", "labels", default={})
    namespace = get(props, "metadata", "namespace", default="")
    name = get(props, "metadata", "name", default="")
    return ObjectRef(
        kind=str(get(props, "kind", default="")),
        namespace=namespace if isinstance(namespace, str) else "",
        name=name if isinstance(name, str) else "",
        labels=labels if is_mapping(labels) else {},
        rendered=rendered_by_component(urn),
    )


def excepted(ref: ObjectRef, config: Mapping[str, Any] | None, policy: str) -> str | None:
    """The reason of the reviewed exception that covers this object, if any."""
    for entry in config_value(config, "exceptions", REVIEWED_EXCEPTIONS.get(policy, [])):
        if not is_mapping(entry):
            continue
        if (
            fnmatch.fnmatchcase(ref.namespace, str(entry.get("namespace", "")))
            and fnmatch.fnmatchcase(ref.name, str(entry.get("name", "*")))
            and fnmatch.fnmatchcase(ref.kind, str(entry.get("kind", "*")))
        ):
            return str(entry.get("reason", ""))
    return None
