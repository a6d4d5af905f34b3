"""A store's WAF tier: OWASP CRS (ModSecurity v3, nginx) between the Gateway and the store's backend.

Deployment + Service + two ConfigMaps (settings as environment, files), a PodDisruptionBudget, a
HorizontalPodAutoscaler and the NetworkPolicies that let the Gateway's Envoy pods in and the WAF out to
the backend. The pods run as the image's unprivileged nginx user with a read-only root filesystem: an init
container copies the image's configuration trees into emptyDirs that the WAF container mounts over the same
paths (`waf_config.CONFIG_TREES`), so the image's start-up scripts find and render their own files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import versions
from components.config.model import Site
from components.edge.gateway import ENVOY_GATEWAY_NAMESPACE, ENVOY_POD_LABELS
from components.placement import spread_constraints
from sites import waf_config
from sites.common import Delivery

WAF_NAME = "waf"
NGINX_UID = 101  # the nginx user of the nginx-unprivileged base image


@dataclass(frozen=True)
class BackendService:
    """The Service the WAF forwards to (the store's Varnish, or its nginx), and its pods' labels and port."""

    name: str
    namespace: str
    port: int
    pod_labels: Mapping[str, str] | None = None  # when known, the backend's ingress from the WAF is allowed
    pod_port: int | None = None  # the container port behind `port` (defaults to `port`)


@dataclass(frozen=True)
class WafArgs:
    site: Site
    namespace: str
    backend: BackendService
    trusted_proxy_cidr: str  # the pod network: Envoy's X-Forwarded-For is believed from there
    failure_domains: int
    cdn_cidrs: tuple[str, ...] = ()  # edge.trustedProxyCidrs: a CDN in front, whose X-Forwarded-For is believed too
    delivery: Delivery = field(default_factory=Delivery)  # gitops: the network policies are guard rails Pulumi applies (sites/gitops.py)


def pod_labels(site: Site) -> dict[str, str]:
    return {"app.kubernetes.io/name": WAF_NAME, "magento.io/site": site.name}


class WafTier(pulumi.ComponentResource):
    service_name: str

    def __init__(self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("magento:sites:WafTier", name, None, opts)
        site, ns, backend = args.site, args.namespace, args.backend
        waf = site.edge.waf
        selector = pod_labels(site)
        labels = {**kube.labels("waf", **{"magento.io/site": site.name}), **selector}
        child = pulumi.ResourceOptions(parent=self)

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        trusted = waf_config.trusted_proxies(args.trusted_proxy_cidr, args.cdn_cidrs)
        env = waf_config.waf_environment(
            site,
            backend=waf_config.backend_url(backend.name, backend.namespace, backend.port),
            trusted_proxies=trusted,
        )
        files = {waf_config.RULES_FILE: waf_config.exclusion_rules(site), waf_config.LIMITS_FILE: waf_config.rate_limits_conf(site, trusted_proxies=trusted)}
        settings = k8s.core.v1.ConfigMap(f"{name}-settings", metadata=meta("waf-settings"), data=env, opts=child)
        rules = k8s.core.v1.ConfigMap(f"{name}-files", metadata=meta("waf-files"), data=files, opts=child)

        # Read-only root: the image's configuration trees are copied into emptyDirs by an init container
        # (same image) and mounted over the same paths in the WAF container (waf_config.init_copy_script).
        writable = {**waf_config.CONFIG_TREES, **waf_config.SCRATCH_PATHS}
        volumes = [
            k8s.core.v1.VolumeArgs(name=vol, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"))
            for vol in writable
        ]
        volumes.append(
            k8s.core.v1.VolumeArgs(name="waf-files", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="waf-files"))
        )
        mounts = [k8s.core.v1.VolumeMountArgs(name=vol, mount_path=path) for vol, path in writable.items()]
        mounts += [
            k8s.core.v1.VolumeMountArgs(name="waf-files", mount_path=waf_config.RULES_MOUNT, sub_path=waf_config.RULES_FILE, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="waf-files", mount_path=waf_config.LIMITS_MOUNT, sub_path=waf_config.LIMITS_FILE, read_only=True),
        ]
        seed_mounts = [k8s.core.v1.VolumeMountArgs(name=vol, mount_path=f"{waf_config.SEED_ROOT}/{vol}") for vol in writable]
        security = k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=NGINX_UID,
            run_as_group=NGINX_UID,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        )
        seed = k8s.core.v1.ContainerArgs(
            name="copy-config",
            image=versions.image("modsecurity-crs").ref,
            image_pull_policy="IfNotPresent",
            command=["/bin/sh", "-c", waf_config.init_copy_script()],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "32Mi"}, limits={"cpu": "500m", "memory": "64Mi"}
            ),
            security_context=security,
            volume_mounts=seed_mounts,
        )

        def probe(period: int, failures: int) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"),
                period_seconds=period,
                timeout_seconds=3,
                failure_threshold=failures,
            )

        container = k8s.core.v1.ContainerArgs(
            name=WAF_NAME,
            image=versions.image("modsecurity-crs").ref,
            image_pull_policy="IfNotPresent",
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=waf_config.WAF_PORT, protocol="TCP")],
            env_from=[k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="waf-settings"))],
            resources=k8s.core.v1.ResourceRequirementsArgs(**waf.resources.as_k8s()),
            security_context=security,
            startup_probe=probe(2, 30),
            readiness_probe=probe(5, 2),
            liveness_probe=probe(10, 3),
            # Let the Gateway drop this endpoint before nginx stops accepting.
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(exec_=k8s.core.v1.ExecActionArgs(command=["sleep", "5"]))
            ),
            volume_mounts=mounts,
        )
        spread = spread_constraints(selector, args.failure_domains)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(WAF_NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # The HPA owns the count; a gitops manifest names none (Argo CD's self-heal would undo every scaling).
                replicas=None if args.delivery.gitops else waf.min_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels, annotations={"magento.io/config-checksum": waf_config.checksum(env, files)}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=NGINX_UID,
                            run_as_group=NGINX_UID,
                            fs_group=NGINX_UID,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        termination_grace_period_seconds=30,
                        topology_spread_constraints=spread,
                        init_containers=[seed],
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[settings, rules]),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(WAF_NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=waf_config.WAF_PORT, target_port="http", protocol="TCP")],
            ),
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(WAF_NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
            ),
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta(WAF_NAME),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=WAF_NAME
                ),
                min_replicas=waf.min_replicas,
                max_replicas=waf.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=waf.target_cpu_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        self._network_policies(name, args, labels, selector)
        self.service_name = WAF_NAME
        self.deployment = deployment
        self.service = service
        self.register_outputs({"service": WAF_NAME})

    def _network_policies(self, name: str, args: WafArgs, labels: dict[str, str], selector: dict[str, str]) -> None:
        """Envoy -> WAF, WAF -> backend (and, when the backend's pods are known, backend <- WAF)."""
        backend, ns = args.backend, args.namespace
        backend_port = backend.pod_port or backend.port
        backend_pods = dict(backend.pod_labels or {})
        rules = [
            # (object name, its namespace, pods it selects, direction, peer namespace, peer pods, port)
            ("waf-from-gateway", ns, selector, "Ingress", ENVOY_GATEWAY_NAMESPACE, dict(ENVOY_POD_LABELS), waf_config.WAF_PORT),
            ("waf-to-backend", ns, selector, "Egress", backend.namespace, backend_pods, backend_port),
        ]
        if backend.pod_labels:
            rules.append(("backend-from-waf", backend.namespace, backend_pods, "Ingress", ns, selector, backend_port))
        for object_name, namespace, pods, direction, peer_ns, peer_pods, port in rules:
            one_rule_policy(
                f"{name}-{object_name.removeprefix('waf-')}",
                k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels),
                pods,
                direction,
                peer_ns,
                peer_pods,
                port,
                args.delivery.guard(pulumi.ResourceOptions(parent=self)),
            )


def one_rule_policy(
    resource_name: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    pods: Mapping[str, str],
    direction: str,
    peer_namespace: str,
    peer_pods: Mapping[str, str],
    port: int,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy allowing one direction between `pods` and the peer pods of a namespace, on one TCP port."""
    net = k8s.networking.v1
    peer = net.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": peer_namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(peer_pods)),
    )
    ports = [net.NetworkPolicyPortArgs(protocol="TCP", port=port)]
    return net.NetworkPolicy(
        resource_name,
        metadata=metadata,
        spec=net.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods)),
            policy_types=[direction],
            ingress=[net.NetworkPolicyIngressRuleArgs(from_=[peer], ports=ports)] if direction == "Ingress" else None,
            egress=[net.NetworkPolicyEgressRuleArgs(to=[peer], ports=ports)] if direction == "Egress" else None,
        ),
        opts=opts,
    )
