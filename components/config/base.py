"""The base of every configuration model, and the compute-resources block several sections share.

Every model forbids unknown keys. Keys are camelCase in the stack files (`kubernetesVersion`) and
snake_case in Python (`kubernetes_version`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from components.config.types import Quantity, parse_quantity


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, validate_default=True
    )


def matching(pattern: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.match(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


class ComputeResources(Model):
    cpu_request: Quantity = Field(description="CPU request per replica")
    memory_request: Quantity = Field(description="memory request per replica")
    cpu_limit: Quantity = Field(description="CPU limit per replica")
    memory_limit: Quantity = Field(description="memory limit per replica")

    @model_validator(mode="after")
    def _request_within_limit(self) -> ComputeResources:
        if parse_quantity(self.cpu_request) > parse_quantity(self.cpu_limit):
            raise ValueError(f"cpuRequest {self.cpu_request} exceeds cpuLimit {self.cpu_limit}")
        if parse_quantity(self.memory_request) > parse_quantity(self.memory_limit):
            raise ValueError(f"memoryRequest {self.memory_request} exceeds memoryLimit {self.memory_limit}")
        return self

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def sized(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> ComputeResources:
    """A ComputeResources default (requests, then limits)."""
    return ComputeResources(cpu_request=cpu_request, memory_request=memory_request, cpu_limit=cpu_limit, memory_limit=memory_limit)


def resources_field(default: ComputeResources, description: str) -> Any:
    """A `ComputeResources` setting with its default, for the components a chart runs."""
    return Field(default_factory=lambda: default, description=description)
