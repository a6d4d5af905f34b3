"""The edge layer: Gateway API, Envoy Gateway, cert-manager and the shared Gateway.

A seam: the component exists in the graph, in its place in the layer order, and receives the
Kubernetes provider and the validated configuration; the issue that owns this layer fills build().
"""

from __future__ import annotations

from components.layer import Layer


class Edge(Layer):
    TYPE = "magento:edge:Edge"
