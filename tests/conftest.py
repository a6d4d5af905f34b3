"""Shared fixtures: the whole program run under mocks for each stack file, recorded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.engine import Recording, run_program
from offline.stackfile import ROOT, StackSettings, load_stack, settings_from_values

STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
FIXTURES = Path(__file__).parent / "fixtures"

_cache: dict[str, Recording] = {}


def recording_for(stack: str) -> Recording:
    """The recorded run of `Pulumi.<stack>.yaml` (cached: runs are deterministic)."""
    if stack not in _cache:
        _cache[stack] = run_program(load_stack(stack))
    return _cache[stack]


@pytest.fixture(params=STACKS)
def stack_recording(request: pytest.FixtureRequest) -> Recording:
    return recording_for(request.param)


@pytest.fixture
def dev() -> Recording:
    return recording_for("dev")


@pytest.fixture
def prod() -> Recording:
    return recording_for("prod")


@pytest.fixture
def run():
    """Run the program with settings built from a mapping of stack-file keys."""

    def _run(values: dict, **kwargs) -> Recording:
        settings: StackSettings = settings_from_values(values, **kwargs)
        return run_program(settings)

    return _run
