"""The whole program: `build(config, secrets)` composes the layers in dependency order.

hosts -> cluster -> backups -> networking -> storage -> edge -> platform -> data -> sites

`__main__.py` (under `pulumi up`) and the offline plan and tests (under the SDK's mocks) all call
`main()`, which validates the configuration before anything is registered.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_command as command

from components.backups import Backups, BackupsArgs
from components.backups.media_keys import OvhApiKeys, stores_with_media
from components.cluster import Cluster, ClusterArgs
from components.config import Secrets, StackConfig, load_from_pulumi
from components.data import DataServices
from components.data.tenancy import to_output
from components.edge import Edge
from components.layer import Layer, LayerArgs, service_monitors
from components.networking import Networking
from components.platform import PlatformServices
from components.platform.observability import PrometheusOperatorCrds
from components.platform.registry import mirrors as harbor_mirrors
from components.platform.site_objects import SitePlatformObjects
from components.storage import Storage
from hosts.layer import Hosts, HostsArgs
from sites.layer import Sites, media_location
from sites.tenancy import namespace_name

# Layer order; each layer depends on the one before it (tests and docs read this).
LAYERS = ("hosts", "cluster", "backups", "networking", "storage", "edge", "platform", "data", "sites")


def build(config: StackConfig, secrets: Secrets) -> dict[str, pulumi.Input[object]]:
    """Register every resource of the stack; return the stack outputs."""
    outputs: dict[str, pulumi.Input[object]] = {"environment": config.environment}

    kubeconfig = secrets.kubeconfig
    failure_domains = config.failure_domains
    hosts = None
    if config.cluster.mode == "kubeadm":
        assert secrets.ssh_private_key is not None  # the loader requires it in kubeadm mode
        # Default providers are disabled for command, kubernetes and aws (Pulumi.<stack>.yaml): every
        # resource names its provider, so none can pick up ambient settings from the operator's shell.
        ssh = command.Provider("command")
        # Once Harbor serves, containerd on every host pulls through its proxy-cache projects (components/platform/registry.py).
        cluster_settings = config.cluster.model_copy(update={"registry_mirrors": [*config.cluster.registry_mirrors, *harbor_mirrors(config)]})
        hosts = Hosts(
            "hosts",
            HostsArgs(config.hosts, cluster_settings, secrets.ssh_private_key, config.networking.vrack_block),
            pulumi.ResourceOptions(providers={"command": ssh}),
        )
        kubeconfig = hosts.kubeconfig
        failure_domains = hosts.failure_domains
        outputs["kubeconfig"] = hosts.kubeconfig

    # The Kubernetes side waits for the first control plane only (through the kubeconfig, read after
    # its init and upgrade stages), never for every host: a host that fails a stage or is still joining
    # does not hold back changes to what already runs (docs/adr/0003-one-stack-for-hosts-and-platform.md).
    cluster = Cluster("cluster", ClusterArgs(config.cluster, failure_domains, kubeconfig))
    outputs["failureDomains"] = failure_domains

    backups = None
    if config.backup is not None:
        assert secrets.backup_access_key_id is not None and secrets.backup_secret_access_key is not None
        backups = Backups(
            "backups",
            BackupsArgs(
                config.backup,
                secrets.backup_access_key_id,
                secrets.backup_secret_access_key,
                config.environment,
                config.protect_stateful,
                tuple(stores_with_media(config.sites)),
                # backup.mediaCredentials ovh: the loader required these three secret settings
                OvhApiKeys(secrets.ovh_application_key, secrets.ovh_application_secret, secrets.ovh_consumer_key)
                if secrets.ovh_application_key is not None and secrets.ovh_application_secret is not None
                and secrets.ovh_consumer_key is not None else None,
            ),
        )
        outputs["backupBuckets"] = {k: b.bucket for k, b in backups.buckets.items()}

    args = LayerArgs(config, failure_domains, secrets, backups)
    # Each layer waits for everything before it (a dependency on a component is a dependency on its
    # resources, so a layer with nothing in it yet must not break the chain).
    # The Prometheus Operator CRDs come first, so that every layer's ServiceMonitors apply on the first `up`.
    monitoring_crds = PrometheusOperatorCrds(
        "monitoring-crds", pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}, depends_on=[cluster])
    )
    previous: list[pulumi.Resource] = [cluster, monitoring_crds]

    def layer(name: str, cls: type[Layer], layer_args: LayerArgs = args) -> Layer:
        built = cls(name, layer_args, pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}, depends_on=list(previous)))
        previous.append(built)
        return built

    for name, cls in (("networking", Networking), ("storage", Storage), ("edge", Edge)):
        layer(name, cls)
    platform = layer("platform", PlatformServices)
    assert isinstance(platform, PlatformServices)
    data = layer("data", DataServices)
    assert isinstance(data, DataServices)
    # The sites layer reads the data services only through the per-site tenancy the data layer built; gitops
    # sites register their workloads with the rendering provider the platform layer made for them.
    sites = layer("sites", Sites, dataclasses.replace(args, tenancy=data.tenancy, site_providers=platform.render_providers))
    assert isinstance(sites, Sites)
    # Per-site platform objects that need the site's namespace and tenancy: runtime policies, secrets in the store.
    SitePlatformObjects(
        "site-platform", config, secrets, data.tenancy, platform.render_providers,
        pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}, depends_on=[sites, platform]),
        sites.store_entries,
    )

    # The secrets store's CA (public): what the pulumi-vault provider (platform.secrets.caCertFile) and `bao -ca-cert` verify with.
    outputs["secretsStoreCaCert"] = platform.secrets_store.ca_cert
    outputs["siteNamespaces"] = [namespace_name(site) for site in config.sites]
    # What a store's own stack (<env>-site-<name>, sites/stack.py) reads through its StackReference.
    outputs["siteTenancy"] = {name: to_output(tenancy) for name, tenancy in data.tenancy.items()}
    outputs["sitePlatform"] = {
        "podCidr": config.cluster.pod_cidr,
        "storageClass": config.storage.default_class,
        "protectStateful": config.protect_stateful,
        "kubeContext": config.cluster.existing.context if config.cluster.existing else None,
        "trustedProxyCidrs": list(config.edge.trusted_proxy_cidrs),
        "serviceMonitors": service_monitors(config),  # the site stacks add their PodMonitor only with the CRDs
        "mediaLocations": {site.name: dataclasses.asdict(location) for site in config.sites
                           if (location := media_location(config, site.name)) is not None},
    }
    return outputs


def main() -> None:
    """Load and validate the stack configuration, build everything, export the outputs."""
    config, secrets = load_from_pulumi()
    for key, value in build(config, secrets).items():
        pulumi.export(key, value)
