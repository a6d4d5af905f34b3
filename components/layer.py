"""What every Kubernetes layer receives, and the base class of the layer components."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi

from components.config.loader import Secrets
from components.config.model import StackConfig

if TYPE_CHECKING:
    from components.backups import Backups
    from components.data.tenancy import SiteDataTenancy


@dataclass(frozen=True)
class LayerArgs:
    """The validated stack configuration and what the hosts layer decided (failure domains)."""

    config: StackConfig
    failure_domains: int
    secrets: Secrets | None = None  # secret settings a layer needs (e.g. the ACME DNS token for the edge)
    backups: Backups | None = None  # the backup buckets (None when the stack has no backup target)
    # What the data layer hands each site (filled for the sites layer only; see components/data/tenancy.py).
    tenancy: Mapping[str, SiteDataTenancy] = field(default_factory=dict)
    # For the sites layer: site -> the Kubernetes provider that renders a `delivery: gitops` site's workloads to
    # tenants/<site>/ of the GitOps checkout (components/platform/gitops.py); direct sites are not in it.
    site_providers: Mapping[str, pulumi.ProviderResource] = field(default_factory=dict)


class Layer(pulumi.ComponentResource):
    """A layer of the platform: a component whose children inherit the Kubernetes provider.

    Subclasses set TYPE (`magento:<layer>:<Name>`) and build their children in `build()`; the
    returned dict becomes the component's registered outputs.
    """

    TYPE = "magento:layer:Layer"

    def __init__(self, name: str, args: LayerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        self.args = args
        self.child_opts = pulumi.ResourceOptions(parent=self)
        outputs = self.build(args)
        self.register_outputs(outputs)

    def build(self, args: LayerArgs) -> dict[str, object]:
        return {}


def service_monitors(config: StackConfig) -> bool:
    """Whether charts create ServiceMonitors and PodMonitors (on by default: program.py installs the Prometheus
    Operator CRDs before the networking layer, so they exist on the first `up`)."""
    return config.platform.observability.service_monitors
