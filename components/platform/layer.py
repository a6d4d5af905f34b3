"""The platform layer: Argo CD, OpenBao/Vault with External Secrets, observability, Kyverno, KubeArmor, kured, Harbor, KEDA and Velero.

Each service is a component of its own under components/platform/; this layer composes them. The
Prometheus Operator CRDs are not here: program.py installs them before the networking layer
(components/platform/observability/layer.py says why).
"""

from __future__ import annotations

from components.layer import Layer, LayerArgs
from components.platform.observability import Observability


class PlatformServices(Layer):
    TYPE = "magento:platform:PlatformServices"

    def build(self, args: LayerArgs) -> dict[str, object]:
        self.observability = Observability("observability", args, self.child_opts)
        return {"prometheus": self.observability.prometheus_url}
