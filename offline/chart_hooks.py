"""What becomes of every Helm hook the program's charts render.

`helm.v4.Chart` never applies hooks (pulumi-kubernetes provider/pkg/provider/helm/v4/chart.go sets
`DisableHooks` and registers only the release manifest), so whatever a chart does in a hook either is done
another way by the program or is not needed. Each hook object a render shows must match an entry here
(chart name -> object glob `Kind/name` -> what replaces it); an unlisted hook fails the plan's chart check,
so that a new chart or version with a hook gets reviewed. Test hooks (`helm.sh/hook: test`) run only under
`helm test` and are never part of a deployment: they need no entry.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from offline.render import Hook

HOOKS: dict[str, dict[str, str]] = {
    "gateway-helm": {
        "*/*-certgen*": (
            "certgen creates Secrets envoy-gateway, envoy, envoy-rate-limit and envoy-oidc-hmac; the edge layer "
            "issues the three certificates with cert-manager and generates the HMAC secret "
            "(components/edge/envoy_gateway.py, control_plane_certificates), before the chart is applied"
        ),
        "MutatingWebhookConfiguration/envoy-gateway-topology-injector.*": (
            "the topology injector needs certgen to patch its CA bundle; it is switched off "
            "(topologyInjector.enabled: false): Envoy pods get no zone label for zone-aware routing"
        ),
    },
    "cert-manager": {
        "*/cert-manager-startupapicheck*": (
            "the post-install check waits for the webhook to answer; the edge layer's ClusterIssuer waits for "
            "the same through the webhook configuration's caBundle (pulumi.com/waitFor on the "
            "ValidatingWebhookConfiguration)"
        ),
    },
}


NOT_REVIEWED = "not reviewed: add it to offline/chart_hooks.py"


def hook_replacement(chart: str, hook: Hook) -> str:
    """What replaces a hook object, as reviewed above; test hooks need nothing."""
    if "test" in hook.events:
        return "a helm test hook: never part of a deployment"
    for glob, reason in HOOKS.get(chart, {}).items():
        if fnmatch.fnmatchcase(f"{hook.kind}/{hook.name}", glob):
            return reason
    return NOT_REVIEWED
