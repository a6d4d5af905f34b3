"""offline/yaml_out.py writes exactly what yaml.dump with the plan's settings writes."""

from __future__ import annotations

import datetime
from collections import OrderedDict
from typing import Any

import pytest
import yaml

from offline.yaml_out import dump_text

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def reference(document: Any) -> str:
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, width=120)


SHARED = {"a": 1, "b": ["x"]}
SHARED_LIST = ["p", {"q": None}]
TUPLE = (1, "x", [2])
RECURSIVE: dict[str, Any] = {"name": "loop"}
RECURSIVE["self"] = RECURSIVE


class Text(str):
    pass


DOCUMENTS: list[Any] = [
    {},
    [],
    "",
    None,
    {"z": 1, "a": 2, "m": [3, 2, 1]},
    {"strings": ["", "yes", "no", "on", "off", "y", "n", "true", "False", "null", "~", "NULL", "1", "0x1f", "1_000", "1e3",
                 ".5", "-.inf", ".NaN", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "=", "<<", "12:30:00", "0o17",
                 "- a", "a: b", "#c", "&x", "*x", "!t", "%p", "@a", "`b", "'q'", '"d"', " lead", "trail ", "a\tb"]},
    {"multi": "line one\nline two\n", "trailing": "x\n\n", "cr": "a\r\nb", "long": "word " * 60, "unicode": "héllo ✓ 日本"},
    {"ints": [0, -1, 2**70, True, False], "floats": [1.5, 1e20, float("inf"), -float("inf"), float("nan"), 0.0]},
    {1: "int key", False: "bool key", None: "none key", "": "empty key", "k": {"nested": {"deep": [[], {}, [[1]]]}}},
    {"tuples": [(), (), TUPLE, TUPLE, ("a", ("b",))]},
    {"one": SHARED, "two": SHARED, "three": [SHARED_LIST, SHARED_LIST]},
    RECURSIVE,
    {"bytes": b"\x00\x01", "set": {1, 2}, "date": datetime.date(2024, 1, 2)},
    {"spec": {"containers": [{"name": "php", "image": "magento:2.4.8", "args": ["--port", "9000"], "env": [
        {"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}},
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_same_text_as_yaml_dump(document: Any) -> None:
    assert dump_text(document) == reference(document)
    assert dump_text(document) == reference(document)  # the second time from the resolver cache


def test_other_types_fail_as_before() -> None:
    for document in (OrderedDict(a=1), Text("subclass"), {"key": object()}):
        with pytest.raises(yaml.representer.RepresenterError):
            reference(document)
        with pytest.raises(yaml.representer.RepresenterError):
            dump_text(document)
