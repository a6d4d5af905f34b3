"""The edge layer: Gateway API, Envoy Gateway, cert-manager and the shared Gateway (`layer.py` composes them)."""

from components.edge.layer import Edge

__all__ = ["Edge"]
