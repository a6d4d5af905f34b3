"""The plan's YAML text: exactly what `yaml.dump(document, Dumper=CSafeDumper, sort_keys=False,
default_flow_style=False, width=120)` writes, with less of PyYAML's pure-Python work per value.

The plan writes ~2,000 files per stack, ~1.4M scalars at 10 sites. libyaml emits them, but PyYAML still
builds the node tree in Python (represent_data -> ignore_aliases -> the type's representer ->
represent_scalar, for every value) and libyaml's serializer calls back into the Python resolver twice per
scalar to decide whether it may be written plain, and the garbage collector keeps walking the plan's heap
while those nodes are alive: together ~4 s of a ~50 s 10-site plan. Here the plan's plain types (dict,
list, str, int, bool, None: all it dumps) get their nodes built in one method, the resolver's decision is
remembered per distinct string, and the collector waits for the end of each dump. The nodes, tags, styles
and anchors are the ones SafeRepresenter makes, and libyaml serializes and emits them as before, so the
bytes are the same (tests/test_yaml_out.py compares with yaml.dump). Any other type goes to SafeRepresenter.
"""

from __future__ import annotations

import gc
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_BASE: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

# The tag the implicit resolvers give a string written plain; at most _CACHE_LIMIT strings are kept
# (a 10-site prod plan has ~17,000 distinct ones).
_PLAIN_TAG: dict[str, str] = {}
_CACHE_LIMIT = 200_000


class _PlanDumper(_BASE):  # type: ignore[misc, valid-type]
    """SafeDumper for `sort_keys=False` and a set `default_flow_style` (what `dump_text` passes)."""

    def represent_data(self, data: Any) -> Node:
        kind = type(data)  # exact types only: subclasses (and bool vs int) go to SafeRepresenter as before
        if kind is str:
            return ScalarNode(_STR, data, style=self.default_style)
        if kind is dict or kind is list:
            # Collections may be aliased (the same object twice in a document): keyed by id, as SafeRepresenter does.
            node = self.represented_objects.get(id(data))
            if node is not None:
                return node
            self.object_keeper.append(data)
            value: list[Any] = []
            style, represent = self.default_style, self.represent_data
            if kind is dict:
                node = MappingNode(_MAP, value, flow_style=self.default_flow_style)
                self.represented_objects[id(data)] = node
                # Most keys and values are strings: their nodes are made here, without a call per value.
                value.extend(
                    (
                        ScalarNode(_STR, key, style=style) if type(key) is str else represent(key),
                        ScalarNode(_STR, item, style=style) if type(item) is str else represent(item),
                    )
                    for key, item in data.items()
                )
            else:
                node = SequenceNode(_SEQ, value, flow_style=self.default_flow_style)
                self.represented_objects[id(data)] = node
                value.extend(ScalarNode(_STR, item, style=style) if type(item) is str else represent(item) for item in data)
            return node
        if kind is int:
            return ScalarNode(_INT, str(data), style=self.default_style)
        if kind is bool:
            return ScalarNode(_BOOL, "true" if data else "false", style=self.default_style)
        if data is None:
            return ScalarNode(_NULL, "null", style=self.default_style)
        return super().represent_data(data)

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        # The serializer asks, per scalar, (True, False): "plain?" and (False, True): "quoted?". With no path
        # resolvers (SafeDumper has none) the first depends only on the string, the second never does.
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:
            return self.DEFAULT_SCALAR_TAG
        tag = _PLAIN_TAG.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_PLAIN_TAG) >= _CACHE_LIMIT:
                _PLAIN_TAG.clear()
            _PLAIN_TAG[value] = tag
        return tag


def dump_text(document: Any) -> str:
    """The document as the plan writes it (block style, keys in insertion order, lines up to 120)."""
    if not gc.isenabled():
        return yaml.dump(document, Dumper=_PlanDumper, sort_keys=False, default_flow_style=False, width=120)
    # The node tree (a few objects per value) lives only for this call and reference counting frees it (it
    # has no cycles unless the document has), but allocating it sets off collections: they find nothing
    # here, move the tree into the older generations and so trigger full passes over the whole plan's heap,
    # ~40 % of the dump time. So the collector waits until the tree is gone; it then runs as before.
    gc.disable()
    try:
        return yaml.dump(document, Dumper=_PlanDumper, sort_keys=False, default_flow_style=False, width=120)
    finally:
        gc.enable()
