"""The cluster layer: the Kubernetes provider every later layer receives explicitly.

In `kubeadm` mode the kubeconfig is the hosts layer's secret output; in `existing` mode it is the
secret setting `kubeconfig`, or the user's own kubeconfig with an optional context (a laptop cluster
in dev).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config.model import Cluster as ClusterSettings


@dataclass(frozen=True)
class ClusterArgs:
    settings: ClusterSettings
    failure_domains: int
    kubeconfig: pulumi.Input[str] | None = None


class Cluster(pulumi.ComponentResource):
    provider: k8s.Provider
    failure_domains: int

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:cluster:Cluster", name, None, opts)
        settings = args.settings
        context = settings.existing.context if settings.mode == "existing" and settings.existing else None
        self.provider = k8s.Provider(
            "kubernetes",
            kubeconfig=args.kubeconfig,
            context=context if args.kubeconfig is None else None,
            # The kubeconfig of a kubeadm cluster comes from a command output: naming the cluster keeps a
            # re-read kubeconfig (rotated certificates) from replacing the provider and every object.
            cluster_identifier=f"magento-{name}",
            enable_server_side_apply=True,
            # delete_unreachable is left unset: an explicit false would override the operator's
            # PULUMI_K8S_DELETE_UNREACHABLE when a lost cluster's objects must be dropped from state.
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.failure_domains = args.failure_domains
        self.register_outputs({"failureDomains": self.failure_domains})
