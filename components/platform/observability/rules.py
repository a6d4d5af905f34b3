"""The platform's alert rules: one PrometheusRule per file in rules/ (Prometheus rule-file format, so that
`promtool check rules` reads the very files the program deploys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kube
from components.platform.observability.common import NAMESPACE

RULES_DIR = Path(__file__).parent / "rules"


def rule_files() -> dict[str, dict[str, Any]]:
    """file stem -> its parsed content ({"groups": [...]}), in name order."""
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(RULES_DIR.glob("*.yaml"))}


def prometheus_rules(opts: pulumi.ResourceOptions) -> list[k8s.apiextensions.CustomResource]:
    return [
        k8s.apiextensions.CustomResource(
            f"rules-{stem}",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": f"platform-{stem}", "namespace": NAMESPACE, "labels": kube.labels("monitoring")},
            spec={"groups": content["groups"]},
            opts=opts,
        )
        for stem, content in rule_files().items()
    ]
