"""Derived docs match the code; every pin is pinned properly; every setting is described."""

from __future__ import annotations

import re

import pytest

from components import versions
from components.config.model import Model, StackConfig
from offline.docs import DOCS, RENDERERS
from offline.stackfile import project_file


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_generated_doc_is_up_to_date(name: str):
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing: run make docs"
    assert path.read_text() == RENDERERS[name](), f"docs/{name} is stale: run make docs"


def test_no_latest_tags_and_no_bitnami():
    for key, pin in versions.IMAGES.items():
        assert pin.tag and pin.tag != "latest" and not pin.tag.startswith("latest"), key
        assert "bitnami" not in pin.repository.lower(), key
    for key, pin in versions.CHARTS.items():
        assert "bitnami" not in pin.repo.lower() and "bitnami" not in pin.chart.lower(), key
        assert pin.repo.startswith(("https://", "oci://")), key
        assert re.match(r"^v?\d+\.\d+\.\d+", pin.version), f"{key}: {pin.version} is not an exact version"


def test_every_setting_has_a_description():
    missing = []

    def walk(model: type[Model], prefix: str) -> None:
        for name, field in model.model_fields.items():
            path = f"{prefix}.{field.alias or name}".lstrip(".")
            if not field.description:
                missing.append(path)
            for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
                for inner in [arg, *getattr(arg, "__args__", ())]:
                    if isinstance(inner, type) and issubclass(inner, Model):
                        walk(inner, path)

    walk(StackConfig, "")
    assert missing == []


def test_every_scalar_setting_is_declared_with_type_and_description():
    declared = project_file()["config"]
    for key, declaration in declared.items():
        assert declaration.get("type") in {"string", "integer", "boolean", "array"}, key
        assert declaration.get("description"), key
    model_keys = {field.alias for field in StackConfig.model_fields.values()}
    assert set(declared) <= model_keys
