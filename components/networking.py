"""The networking layer: Cilium (CNI, kube-proxy replacement, Hubble), MetalLB L2 pools and metrics-server.

A seam: the component exists in the graph, in its place in the layer order, and receives the
Kubernetes provider and the validated configuration; the issue that owns this layer fills build().
"""

from __future__ import annotations

from components.layer import Layer


class Networking(Layer):
    TYPE = "magento:networking:Networking"
