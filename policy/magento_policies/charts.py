"""Chart policies: every Helm chart is pinned, from an https or oci repository, and nothing is Bitnami."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .common import get, is_mapping, schema, walk

CHART_TYPES = frozenset({"kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release"})
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
BITNAMI = re.compile(r"bitnami", re.I)


def chart_findings(props: Any) -> Iterator[str]:
    chart = get(props, "chart", default="")
    version = get(props, "version")
    repo = get(props, "repositoryOpts", "repo", default="")
    if not isinstance(version, str) or not EXACT_VERSION.match(version):
        yield f"chart '{chart}' version {version!r} is not an exact version (pin x.y.z from components/versions.py)"
    source = chart if isinstance(chart, str) and chart.startswith("oci://") else repo
    if not isinstance(source, str) or not source.startswith(("https://", "oci://")):
        yield f"chart '{chart}' repository {source!r} is not https:// or oci://"
    for where, value in (("chart", chart), ("repository", repo)):
        if isinstance(value, str) and BITNAMI.search(value):
            yield f"chart '{chart}' {where} {value!r} is Bitnami (frozen catalog; use the project's official chart)"
    for path, value in walk(get(props, "values", default={}), "values"):
        if isinstance(value, str) and BITNAMI.search(value):
            yield f"chart '{chart}' {path} = {value!r} refers to Bitnami"


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in CHART_TYPES:
        return
    if not is_mapping(args.props) or "chart" not in args.props:
        # A component whose inputs the engine does not pass to analyzers: nothing to judge here.
        args.not_applicable("the chart's inputs are not visible to the analyzer")
    release = get(args.props, "name", default=args.name)
    namespace = get(args.props, "namespace", default="default")
    for finding in chart_findings(args.props):
        report_violation(f"{args.resource_type.split(':')[-1]} {namespace}/{release}: {finding}", None)


POLICIES = [
    ResourceValidationPolicy(
        name="chart-pinned-trusted-source",
        description="Helm charts (helm.v4.Chart, helm.v3.Release) have an exact version, an https:// or oci:// repository, "
        "and nothing from Bitnami (chart, repository or values).",
        validate=_validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema("chart-pinned-trusted-source", exceptions=False),
        remediation_steps="Add the chart to components/versions.py CHARTS and build it with components.k8s.chart().",
    )
]
