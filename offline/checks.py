"""The checks the offline plan runs on a recorded stack, each returning what it checked and its problems.

- schema: every Kubernetes object against the Kubernetes 1.36 schema (strict) or its CRD schema;
- references: selectors, backends, scale targets and the Secrets/ConfigMaps pods use all resolve.

The plan and the tests run this same list; the policy pack is evaluated beside it by
`offline.policy_check` (it writes its own report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.engine import Recording
from offline.references import check_references
from offline.schemas import CRD_SCHEMAS, validate_objects
from offline.summary import CHART_TYPES

CheckResult = dict[str, Any]


def schema_check(recording: Recording) -> CheckResult:
    objects = [r.inputs for r in recording.kubernetes_objects()]
    problems, skipped = validate_objects(objects)
    note = f"CRD schemas folder absent ({CRD_SCHEMAS}): {skipped} custom resources not validated" if skipped else None
    return {"checked": len(objects) - skipped, "problems": [str(p) for p in problems], "note": note}


def reference_check(recording: Recording) -> CheckResult:
    objects = [r.inputs for r in recording.kubernetes_objects()]
    charts = {r.name: r.inputs.get("namespace") or "default" for r in recording.resources if r.type in CHART_TYPES}
    problems = [str(p) for p in check_references(objects, charts)]
    return {"checked": len(objects) + len(charts), "problems": problems}


CHECKS: dict[str, Callable[[Recording], CheckResult]] = {"schema": schema_check, "references": reference_check}


def run_checks(recording: Recording) -> dict[str, CheckResult]:
    return {name: fn(recording) for name, fn in CHECKS.items()}
