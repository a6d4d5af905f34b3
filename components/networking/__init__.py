"""The networking layer: Cilium, MetalLB and metrics-server (one module per component, `layer.py` composes them)."""

from components.networking.layer import Networking

__all__ = ["Networking"]
