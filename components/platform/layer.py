"""The platform layer: Argo CD, OpenBao/Vault with External Secrets, observability, Kyverno, KubeArmor, kured, Harbor, KEDA and Velero.

A seam: the component exists in the graph, in its place in the layer order, and receives the
Kubernetes provider and the validated configuration; the issue that owns this layer fills build().
"""

from __future__ import annotations

from components.layer import Layer


class PlatformServices(Layer):
    TYPE = "magento:platform:PlatformServices"
