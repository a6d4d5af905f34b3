"""kured: reboots nodes that need it (`/var/run/reboot-required` from unattended-upgrades) inside the
configured window, one node at a time (a cluster-wide lock), and holds every reboot while an alert fires
in Prometheus (other than the ones `platform.reboots.blockingAlertFilter` names).
"""

from __future__ import annotations

from typing import Any

from components.config.model import StackConfig
from components.platform.observability.common import PROMETHEUS_URL

KURED_NAMESPACE = "kube-system"
DAYS = {"mon": "mo", "tue": "tu", "wed": "we", "thu": "th", "fri": "fr", "sat": "sa", "sun": "su"}


def prometheus_url() -> str:
    """Prometheus as the observability component names it (kube-prometheus-stack in `monitoring`)."""
    return PROMETHEUS_URL


def kured_values(config: StackConfig) -> dict[str, Any]:
    reboots = config.platform.reboots
    return {
        "configuration": {
            "startTime": reboots.start_time,
            "endTime": reboots.end_time,
            "timeZone": reboots.time_zone,
            "rebootDays": [DAYS[d] for d in reboots.days],
            "period": reboots.period,
            "concurrency": 1,
            "prometheusUrl": prometheus_url(),
            "alertFilterRegexp": reboots.blocking_alert_filter,
            "alertFiringOnly": True,
            "drainTimeout": "30m",
            "drainGracePeriod": "-1",
            "lockTtl": "2h",
            "lockReleaseDelay": "5m",
            "annotateNodes": True,
            "preferNoScheduleTaint": "magento.io/kured-reboot-pending",
        },
        "resources": config.platform.reboots.resources.as_k8s(),
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],  # every node, witness and control planes included
        "metrics": {"create": config.platform.observability.service_monitors},
        "service": {"create": True},
    }
