"""Workload policies: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and Pods.

Scopes (see docs/policy.md):
- host access and the restricted security context: every workload, chart-rendered ones included,
  except in the reviewed system namespaces;
- requests and limits, probes, pinned images from allowed registries: every workload, chart-rendered
  ones included (a chart's containers are sized and probed through its values or a transform);
- read-only root filesystem: our own workloads (registered by the program, labelled part of the
  platform, or anywhere in a site namespace).
Every policy also honours its reviewed `exceptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import defaults
from .common import UNKNOWN, ObjectRef, config_value, excepted, get, is_list, is_mapping, object_ref, schema, string_list

# type token -> path from the object to its pod template (None: the object is the pod)
WORKLOAD_TYPES: dict[str, tuple[str, ...] | None] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:core/v1:Pod": None,
}
RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]
    init: bool
    long_running: bool

    @property
    def label(self) -> str:
        return f"{'init container' if self.init else 'container'} '{self.name}'"

    def security(self, key: str) -> Any:
        return get(self.spec, "securityContext", key)


@dataclass(frozen=True)
class Workload:
    ref: ObjectRef
    pod: Mapping[str, Any]  # the pod spec

    def pod_security(self, key: str) -> Any:
        return get(self.pod, "securityContext", key)

    def containers(self) -> Iterator[Container]:
        serving = self.ref.kind not in RUN_TO_COMPLETION
        for key, init in (("initContainers", True), ("containers", False)):
            items = get(self.pod, key, default=[])
            for index in range(len(items) if is_list(items) else 0):
                spec = get(items, index, default={})
                if not is_mapping(spec):
                    continue
                sidecar = init and get(spec, "restartPolicy") == "Always"
                name = get(spec, "name", default=f"#{index}")
                yield Container(str(name), spec, init, serving and (not init or sidecar))

    def effective(self, container: Container, key: str) -> Any:
        """A security setting as Kubernetes applies it: the container's, else the pod's."""
        value = container.security(key)
        return self.pod_security(key) if value is None else value


def workload_of(args: ResourceValidationArgs) -> Workload | None:
    if args.resource_type not in WORKLOAD_TYPES:
        return None
    path = WORKLOAD_TYPES[args.resource_type]
    template = args.props if path is None else get(args.props, *path, default={})
    pod = get(template, "spec", default={})
    return Workload(object_ref(args.props, args.urn), pod if is_mapping(pod) else {})


Check = Callable[[Workload, Mapping[str, Any]], Iterator[str]]


def workload_policy(
    name: str,
    description: str,
    check: Check,
    *,
    own_only: bool,
    system_exempt: bool,
    properties: dict[str, dict[str, Any]] | None = None,
    remediation: str,
) -> ResourceValidationPolicy:
    """A resource policy over workloads with the pack's scoping: own-only or all, system namespaces, exceptions."""
    extra = dict(properties or {})
    if system_exempt:
        extra["systemNamespaces"] = {
            "type": "object",
            "description": "namespace -> reason: reviewed namespaces whose third-party agents need the host",
            "additionalProperties": {"type": "string", "minLength": 10},
            "default": defaults.SYSTEM_NAMESPACES,
        }

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        workload = workload_of(args)
        if workload is None:
            return
        config = args.get_config() or {}
        if own_only and not workload.ref.own:
            return
        if system_exempt and workload.ref.namespace in config_value(config, "systemNamespaces", defaults.SYSTEM_NAMESPACES):
            return
        if excepted(workload.ref, config, name) is not None:
            return
        for message in check(workload, config):
            report_violation(f"{workload.ref}: {message}", None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema(name, extra),
        remediation_steps=remediation,
    )


# ------------------------------------------------------------------------------------------ checks


def _host_access(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if get(workload.pod, key) is True:
            yield f"uses {key}"
    volumes = get(workload.pod, "volumes", default=[])
    for index in range(len(volumes) if is_list(volumes) else 0):
        if get(volumes, index, "hostPath") is not None:
            yield f"mounts hostPath volume '{get(volumes, index, 'name', default=index)}'"
    allowed = set(config_value(config, "allowedCapabilities", defaults.ALLOWED_ADDED_CAPABILITIES))
    for container in workload.containers():
        if container.security("privileged") is True:
            yield f"{container.label} is privileged"
        added = get(container.spec, "securityContext", "capabilities", "add", default=[])
        extra = sorted(str(c) for c in (added if is_list(added) else []) if str(c) not in allowed)
        if extra:
            yield f"{container.label} adds capabilities {', '.join(extra)}"
        ports = get(container.spec, "ports", default=[])
        for index in range(len(ports) if is_list(ports) else 0):
            if get(ports, index, "hostPort") not in (None, 0, UNKNOWN):
                yield f"{container.label} binds hostPort {get(ports, index, 'hostPort')}"


def _restricted(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for container in workload.containers():
        if workload.effective(container, "runAsNonRoot") is not True:
            yield f"{container.label} does not set runAsNonRoot: true"
        if workload.effective(container, "runAsUser") == 0:
            yield f"{container.label} runs as user 0"
        if container.security("allowPrivilegeEscalation") is not False:
            yield f"{container.label} does not set allowPrivilegeEscalation: false"
        dropped = get(container.spec, "securityContext", "capabilities", "drop", default=[])
        if "ALL" not in [str(c) for c in (dropped if is_list(dropped) else [])]:
            yield f"{container.label} does not drop ALL capabilities"
        seccomp = get(container.spec, "securityContext", "seccompProfile", "type") or get(
            workload.pod, "securityContext", "seccompProfile", "type"
        )
        if seccomp not in ("RuntimeDefault", "Localhost", UNKNOWN):
            yield f"{container.label} has no seccompProfile RuntimeDefault (pod or container)"


def _read_only_root(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for container in workload.containers():
        if container.security("readOnlyRootFilesystem") is not True:
            yield f"{container.label} does not set readOnlyRootFilesystem: true"


def _resources(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for container in workload.containers():
        missing = [
            f"{kind}.{resource}"
            for kind in ("requests", "limits")
            for resource in ("cpu", "memory")
            if get(container.spec, "resources", kind, resource) is None
        ]
        if missing:
            yield f"{container.label} has no {', '.join(missing)}"


def _probes(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for container in workload.containers():
        if not container.long_running:
            continue
        if get(container.spec, "livenessProbe") is None:
            yield f"{container.label} has no livenessProbe"
        if get(container.spec, "ports") is not None and get(container.spec, "readinessProbe") is None:
            yield f"{container.label} serves ports but has no readinessProbe"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str  # repository path inside the registry, e.g. library/nginx
    tag: str
    digest: str

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"


DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way container runtimes do (implicit docker.io and library/)."""
    name, _, digest = image.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    tag = name[colon + 1 :] if colon > slash else ""
    repo = name[:colon] if colon > slash else name
    first, _, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", repo if "/" in repo else f"library/{repo}"
    if registry in DOCKER_HUB_ALIASES:
        registry = "docker.io"
    return ImageRef(registry, path, tag, digest)


def _images(workload: Workload) -> Iterator[tuple[Container, Any]]:
    for container in workload.containers():
        yield container, get(container.spec, "image")


def _image_pinned(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    for container, image in _images(workload):
        if image is UNKNOWN:
            continue
        if not isinstance(image, str) or not image:
            yield f"{container.label} has no image"
            continue
        ref = parse_image(image)
        if ref.digest:
            continue
        if not ref.tag:
            yield f"{container.label} image '{image}' has no tag (pin a version or a digest)"
        elif ref.tag == "latest":
            yield f"{container.label} image '{image}' uses the tag 'latest' (pin a version or a digest)"


def _image_registry(workload: Workload, config: Mapping[str, Any]) -> Iterator[str]:
    allowed = [str(r).rstrip("/") for r in config_value(config, "allowedRegistries", defaults.ALLOWED_REGISTRIES)]
    denied = [str(p) for p in config_value(config, "deniedImagePatterns", defaults.DENIED_IMAGE_PATTERNS)]
    for container, image in _images(workload):
        if not isinstance(image, str) or not image or image is UNKNOWN:
            continue
        ref = parse_image(image)
        if not any(ref.registry == entry or ref.repository.startswith(entry + "/") for entry in allowed):
            yield f"{container.label} image '{image}' is from {ref.registry}, not an allowed registry ({', '.join(allowed)})"
        for pattern in denied:
            if ref.path.startswith(pattern) or f"/{pattern}" in ref.path:
                yield f"{container.label} image '{image}' is a Bitnami image (denied: {pattern})"


POLICIES = [
    workload_policy(
        "workload-no-host-access",
        "Workloads do not use the host: no privileged containers, no hostNetwork/hostPID/hostIPC, no hostPath "
        "volumes, no hostPort and no added capabilities beyond NET_BIND_SERVICE (outside the reviewed system namespaces).",
        _host_access,
        own_only=False,
        system_exempt=True,
        properties={"allowedCapabilities": string_list(defaults.ALLOWED_ADDED_CAPABILITIES, "capabilities a container may add")},
        remediation="Remove privileged/host settings from the pod spec; if a third-party agent really needs the host, "
        "add its namespace to systemNamespaces in policy/magento_policies/defaults.py with the reason.",
    ),
    workload_policy(
        "workload-restricted-security-context",
        "Containers run as non-root (runAsNonRoot: true, never user 0), with allowPrivilegeEscalation: false, "
        "capabilities drop ALL and seccompProfile RuntimeDefault (the Pod Security 'restricted' profile).",
        _restricted,
        own_only=False,
        system_exempt=True,
        remediation="Set pod securityContext {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}} and container "
        "securityContext {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}; for a chart, through its values.",
    ),
    workload_policy(
        "workload-read-only-root-filesystem",
        "Our own containers run with readOnlyRootFilesystem: true (writable paths are emptyDir or volume mounts).",
        _read_only_root,
        own_only=True,
        system_exempt=False,
        remediation="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes.",
    ),
    workload_policy(
        "workload-resources",
        "Every container (init containers too, chart-rendered ones included) declares CPU and memory requests and limits.",
        _resources,
        own_only=False,
        system_exempt=False,
        remediation="Set resources.requests and resources.limits for cpu and memory (from the site's or layer's config).",
    ),
    workload_policy(
        "workload-probes",
        "Every long-running container (chart-rendered ones included) has a livenessProbe, and a readinessProbe when it serves ports.",
        _probes,
        own_only=False,
        system_exempt=False,
        remediation="Add livenessProbe (and readinessProbe for containers with ports); Jobs and plain init containers are exempt.",
    ),
    workload_policy(
        "workload-image-pinned",
        "Every container image is pinned: a version tag or a digest, never 'latest' or no tag.",
        _image_pinned,
        own_only=False,
        system_exempt=False,
        remediation="Use an image from components/versions.py (ImagePin) or a site's configured image tag.",
    ),
    workload_policy(
        "workload-image-registry",
        "Every container image comes from an allowed registry, and none is a Bitnami image.",
        _image_registry,
        own_only=False,
        system_exempt=False,
        properties={
            "allowedRegistries": string_list(
                defaults.ALLOWED_REGISTRIES,
                "registries (or registry/path prefixes) images may come from; from platform.allowedRegistries",
            ),
            "deniedImagePatterns": string_list(defaults.DENIED_IMAGE_PATTERNS, "repository path prefixes that are never allowed"),
        },
        remediation="Pull from an allowed registry (add one to platform.allowedRegistries in the stack file after review); "
        "replace Bitnami images with the project's official image.",
    ),
]
