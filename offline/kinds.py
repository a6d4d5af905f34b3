"""Which kinds are cluster-scoped, and which API versions exist in the cluster the program builds.

The Kubernetes provider decides whether an object without a namespace gets the chart's namespace by asking
the API server (or a CustomResourceDefinition among the same objects). Offline, the answer comes from the
built-in kinds below and from every CustomResourceDefinition the program's charts and manifests render;
CRDs an operator installs at run time (not in any chart) are listed in `RUNTIME_CRDS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Built-in kinds served cluster-scoped by Kubernetes 1.36.
CORE_CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ComponentStatus",
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService",
    "StorageClass", "VolumeAttachment", "CSIDriver", "CSINode", "VolumeAttributesClass",
    "PriorityClass", "RuntimeClass", "IngressClass", "IPAddress", "ServiceCIDR",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "CertificateSigningRequest", "ClusterTrustBundle", "FlowSchema", "PriorityLevelConfiguration",
    "DeviceClass", "ResourceSlice", "StorageVersionMigration", "SelfSubjectReview",
    "TokenReview", "SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview",
})

# Custom resources this program creates or charts render, whose CRDs are not always among the rendered
# objects (installed by an operator at run time, or by a chart that skips its CRDs): their scope.
RUNTIME_CRDS: dict[str, tuple[str, bool]] = {
    # kind: (group/version, namespaced)
    "CiliumNetworkPolicy": ("cilium.io/v2", True),
    "CiliumClusterwideNetworkPolicy": ("cilium.io/v2", False),
    "CiliumLoadBalancerIPPool": ("cilium.io/v2", False),
    "CiliumL2AnnouncementPolicy": ("cilium.io/v2alpha1", False),
    "CiliumEnvoyConfig": ("cilium.io/v2", True),
    "CiliumClusterwideEnvoyConfig": ("cilium.io/v2", False),
    "CiliumNode": ("cilium.io/v2", False),
    "CiliumIdentity": ("cilium.io/v2", False),
}

# Cluster-scoped custom resource kinds (used when no CRD is among the objects, e.g. in unit tests that
# build a handful of objects).
KNOWN_CLUSTER_SCOPED_CRS = frozenset({
    "GatewayClass", "ClusterIssuer", "ClusterSecretStore", "ClusterExternalSecret", "ClusterGenerator",
    "VolumeSnapshotClass", "VolumeSnapshotContent", "ClusterPolicy", "ValidatingPolicy", "MutatingPolicy",
    "GeneratingPolicy", "ImageValidatingPolicy", "DeletingPolicy", "KubeArmorClusterPolicy",
    "KubeArmorHostPolicy", "ClusterTriggerAuthentication", "ZFSNode",
    *(kind for kind, (_, namespaced) in RUNTIME_CRDS.items() if not namespaced),
})


class Scopes:
    """Namespace scope of every kind, from the built-in table and the CRDs among `objects`."""

    def __init__(self, objects: Iterable[dict[str, Any]] = ()):
        self.namespaced: dict[str, bool] = {kind: False for kind in CORE_CLUSTER_SCOPED | KNOWN_CLUSTER_SCOPED_CRS}
        self.namespaced.update({kind: namespaced for kind, (_, namespaced) in RUNTIME_CRDS.items()})
        self.crd_versions: set[str] = set()
        for obj in objects:
            self.add_crd(obj)

    def add_crd(self, obj: dict[str, Any]) -> None:
        if obj.get("kind") != "CustomResourceDefinition":
            return
        spec = obj.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        group = spec.get("group")
        if not kind or not group:
            return
        self.namespaced[kind] = spec.get("scope", "Namespaced") == "Namespaced"
        for version in spec.get("versions") or []:
            if version.get("served", True):
                self.crd_versions.add(f"{group}/{version['name']}")
                self.crd_versions.add(f"{group}/{version['name']}/{kind}")

    def is_cluster_scoped(self, kind: str) -> bool:
        return not self.namespaced.get(kind, True)

    def knows(self, kind: str) -> bool:
        return kind in self.namespaced

    def api_versions(self) -> list[str]:
        """The API versions the custom resources add (for `helm template --api-versions`)."""
        runtime = {gv for gv, _ in RUNTIME_CRDS.values()} | {f"{gv}/{kind}" for kind, (gv, _) in RUNTIME_CRDS.items()}
        return sorted(self.crd_versions | runtime)


CLUSTER_SCOPED = CORE_CLUSTER_SCOPED | KNOWN_CLUSTER_SCOPED_CRS
