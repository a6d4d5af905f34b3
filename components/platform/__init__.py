"""The platform layer: Argo CD, secrets, observability, policy, reboots, registry, autoscaling, backups (`layer.py` composes them)."""

from components.platform.layer import PlatformServices

__all__ = ["PlatformServices"]
