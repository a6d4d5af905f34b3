"""Cross-field checks of a structurally valid StackConfig.

Each check yields `Problem`s that name the key at fault, in the same path syntax pydantic errors use
(`hosts[1].privateAddress`), so that one bad stack file gives one line per problem.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from components.config.model import StackConfig
from components.config.netutil import contains, overlaps, parse_range
from components.config.types import parse_quantity


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


Check = Callable[[StackConfig], Iterator[Problem]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def run_checks(config: StackConfig) -> list[Problem]:
    return [problem for fn in CHECKS for problem in fn(config)]


def repeats(items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str, str]]:
    """For (path, value) pairs, yield (path, value, first path) for each value seen before."""
    owners: dict[str, str] = {}
    for path, value in items:
        if value in owners:
            yield path, value, owners[value]
        else:
            owners[value] = path


@check
def unique_hosts(cfg: StackConfig) -> Iterator[Problem]:
    """Host names, public addresses and private addresses are unique across hosts."""
    names = ((f"hosts[{i}].name", h.name) for i, h in enumerate(cfg.hosts))
    for path, name, first in repeats(names):
        yield Problem(path, f"{name!r} is already used by {first.removesuffix('.name')}")
    addresses = (
        (f"hosts[{i}].{key}", address)
        for i, host in enumerate(cfg.hosts)
        for key, address in (("publicAddress", host.public_address), ("privateAddress", host.private_address))
    )
    for path, address, first in repeats(addresses):
        yield Problem(path, f"{address} is already used by {first}")


@check
def cluster_mode(cfg: StackConfig) -> Iterator[Problem]:
    """kubeadm mode needs hosts, a control plane, an API endpoint, a ZFS pool on every workload host and, in prod, pinned host keys; existing mode takes no hosts."""
    cluster = cfg.cluster
    if cluster.mode == "existing":
        if cfg.hosts:
            yield Problem("hosts", "must be empty when cluster.mode is 'existing' (this program does not manage those servers)")
        if cfg.environment == "prod" and cluster.existing and cluster.existing.kubelet_serving_certificates == "self-signed":
            yield Problem(
                "cluster.existing.kubeletServingCertificates",
                "'self-signed' is refused in prod: metrics-server would not verify the kubelets (sign them with the cluster CA)",
            )
        return
    if cluster.existing is not None:
        yield Problem("cluster.existing", "only applies when cluster.mode is 'existing'")
    if not cfg.hosts:
        yield Problem("hosts", "cluster.mode 'kubeadm' needs at least one host with the control-plane role")
        return
    if not cfg.control_planes:
        yield Problem("hosts", "no host has the control-plane role")
    if cluster.control_plane_endpoint is None:
        yield Problem("cluster.controlPlaneEndpoint", "required when cluster.mode is 'kubeadm' (host:port of the API server)")
    else:
        yield from _api_endpoint(cfg)
    if not any(set(h.roles) & {"worker"} for h in cfg.hosts) and not any(
        set(h.roles) == {"control-plane"} for h in cfg.hosts
    ):
        yield Problem("hosts", "no host can run workloads: give at least one host the worker role")
    for i, host in enumerate(cfg.hosts):
        if "witness" not in host.roles and host.zfs is None:
            yield Problem(f"hosts[{i}].zfs", "required on hosts that run workloads (LocalPV-ZFS needs the pool)")
        if cfg.environment == "prod" and host.ssh.host_key is None:
            yield Problem(f"hosts[{i}].ssh.hostKey", "required in prod: pin the server's host key (ssh-keyscan -t ed25519)")


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _api_endpoint(cfg: StackConfig) -> Iterator[Problem]:
    """An HA cluster's API endpoint must outlive any one host: the keepalived VIP, never a host's own address."""
    cluster = cfg.cluster
    assert cluster.control_plane_endpoint is not None
    host = cluster.control_plane_endpoint.rsplit(":", 1)[0]
    owners = {a: h.name for h in cfg.hosts for a in (h.private_address, h.public_address)}
    if cluster.high_availability and host in owners:
        yield Problem(
            "cluster.controlPlaneEndpoint",
            f"{host} is {owners[host]}'s own address: with highAvailability a reboot of {owners[host]} would take the API down; "
            "set cluster.apiVip and use its address",
        )
    vip = cluster.api_vip
    if vip is None:
        return
    if cluster.control_plane_endpoint != f"{vip.address}:6443":
        yield Problem("cluster.controlPlaneEndpoint", f"must be {vip.address}:6443, the address of cluster.apiVip")
    if vip.address in owners:
        yield Problem("cluster.apiVip.address", f"{vip.address} is {owners[vip.address]}'s own address: the VIP must be a free address")
    if cluster.private_network and ipaddress.ip_address(vip.address) not in ipaddress.ip_network(cluster.private_network):
        yield Problem("cluster.apiVip.address", f"{vip.address} is not in cluster.privateNetwork {cluster.private_network}: keepalived announces it on the vRack")


@check
def quorum(cfg: StackConfig) -> Iterator[Problem]:
    """Control planes are 1 or an odd number; high availability needs 3 failure domains and 3 control planes; quorum services run 1 or 3+ replicas, no more than the failure domains."""
    domains = cfg.failure_domains
    cps = len(cfg.control_planes)
    ha = cfg.cluster.high_availability
    if cfg.cluster.mode == "kubeadm" and cps == 2:
        yield Problem("hosts", "2 control-plane hosts cannot keep etcd quorum when one fails (less available than 1): use 1, or 3 or more")
    elif cfg.cluster.mode == "kubeadm" and cps > 1 and cps % 2 == 0:
        yield Problem("hosts", f"{cps} control-plane hosts: use an odd number so that etcd keeps a majority")
    if ha and domains < 3:
        yield Problem("cluster.highAvailability", f"needs 3 failure domains (a small witness host counts); this stack has {domains}")
    if ha and cfg.cluster.mode == "kubeadm" and cps < 3:
        yield Problem("cluster.highAvailability", f"needs 3 control-plane hosts for etcd quorum; this stack has {cps}")
    for name in ("mysql", "opensearch", "rabbitmq", "valkey"):
        replicas = getattr(cfg.data, name).replicas
        if replicas is None or replicas == 1:
            continue
        if replicas == 2:
            yield Problem(f"data.{name}.replicas", "2 replicas cannot form a quorum: use 1 or 3")
        elif not ha:
            yield Problem(f"data.{name}.replicas", "more than one replica needs cluster.highAvailability: true")
        elif domains >= 3 and replicas > domains:
            yield Problem(f"data.{name}.replicas", f"{replicas} replicas need as many failure domains; this stack has {domains}")


@check
def networks_do_not_overlap(cfg: StackConfig) -> Iterator[Problem]:
    """Pod CIDR, service CIDR, LoadBalancer pools and host addresses do not overlap; private addresses lie in the private network; the Gateway address lies in a pool."""
    named: list[tuple[str, tuple[int, int, int]]] = [
        ("cluster.podCidr", parse_range(cfg.cluster.pod_cidr)),
        ("cluster.serviceCidr", parse_range(cfg.cluster.service_cidr)),
    ]
    for p, pool in enumerate(cfg.networking.load_balancer_pools):
        for a, address in enumerate(pool.addresses):
            named.append((f"networking.loadBalancerPools[{p}].addresses[{a}]", parse_range(address)))
    for i, (path_a, range_a) in enumerate(named):
        for path_b, range_b in named[:i]:
            if overlaps(range_a, range_b):
                yield Problem(path_a, f"overlaps {path_b}")
    for h, host in enumerate(cfg.hosts):
        for key, address in (("publicAddress", host.public_address), ("privateAddress", host.private_address)):
            for path, rng in named:
                if contains(rng, address):
                    yield Problem(f"hosts[{h}].{key}", f"{address} lies inside {path}")
    private = cfg.cluster.private_network
    if private is not None:
        private_range = parse_range(private)
        for h, host in enumerate(cfg.hosts):
            if not contains(private_range, host.private_address):
                yield Problem(f"hosts[{h}].privateAddress", f"{host.private_address} is outside cluster.privateNetwork {private}")
        for path, rng in named[:2]:
            if overlaps(rng, private_range):
                yield Problem(path, f"overlaps cluster.privateNetwork {private}")
    gateway = cfg.edge.gateway_address
    if gateway is not None:
        pools = [rng for path, rng in named if path.startswith("networking.")]
        if not any(contains(rng, gateway) for rng in pools):
            yield Problem("edge.gatewayAddress", f"{gateway} is not inside any networking.loadBalancerPools address range")


@check
def sites_unique(cfg: StackConfig) -> Iterator[Problem]:
    """Site names are unique and every domain is served by one site only."""
    names = ((f"sites[{i}].name", site.name) for i, site in enumerate(cfg.sites))
    for path, name, first in repeats(names):
        yield Problem(path, f"{name!r} is already used by {first.removesuffix('.name')}")
    domains = ((f"sites[{i}].domains[{d}]", domain) for i, site in enumerate(cfg.sites) for d, domain in enumerate(site.domains))
    for path, domain, first in repeats(domains):
        yield Problem(path, f"{domain} is already served by {first.split('.')[0]}")


@check
def site_workloads(cfg: StackConfig) -> Iterator[Problem]:
    """A store's pods fit its quota at their autoscaling maxima, and its media backend can exist here."""
    for i, site in enumerate(cfg.sites):
        need, hard = site.compute("max"), site.quota_hard()
        keys = {"requests.cpu": "cpu", "requests.memory": "memory", "limits.cpu": "cpuLimits", "limits.memory": "memoryLimits"}
        for key, field in keys.items():
            if need[key] > parse_quantity(hard[key]):
                shown = f"{need[key]:.2f} cores" if key.endswith("cpu") else f"{need[key] / 2**30:.2f}Gi"
                yield Problem(f"sites[{i}].quota.{field}", f"{hard[key]} is below the {key} of the store at its maxima ({shown})")
        if site.media.backend == "s3":
            if cfg.backup is None and cfg.environment != "prod":  # prod_needs_backup names the missing target in prod
                yield Problem(f"sites[{i}].media.backend", "s3 needs backup.buckets.media (the bucket the store's media prefix lives in); use pvc without it")
        elif cfg.failure_domains > 1:
            yield Problem(f"sites[{i}].media.backend", "pvc is one ReadWriteOnce volume on one server: use s3 when the stack has several failure domains")


@check
def edge_solver(cfg: StackConfig) -> Iterator[Problem]:
    """The DNS provider is set exactly when the ACME solver is DNS-01."""
    acme = cfg.edge.acme
    if acme.solver == "dns01" and acme.dns_provider is None:
        yield Problem("edge.acme.dnsProvider", "required when edge.acme.solver is 'dns01' (cloudflare)")
    if acme.solver == "http01" and acme.dns_provider is not None:
        yield Problem("edge.acme.dnsProvider", "only applies when edge.acme.solver is 'dns01'")


@check
def prod_needs_backup(cfg: StackConfig) -> Iterator[Problem]:
    """prod has a backup target, and each backup stream has its own bucket."""
    if cfg.environment == "prod" and cfg.backup is None:
        yield Problem("backup", "required in prod: the S3 endpoint, region and buckets backups go to")
    if cfg.backup is not None:
        buckets = ((f"backup.buckets.{key}", name) for key, name in cfg.backup.buckets.model_dump(by_alias=True).items())
        for path, bucket, first in repeats(buckets):
            yield Problem(path, f"{bucket!r} is already used by {first}")


OVH_OBJECT_STORAGE_HOST = ".cloud.ovh.net"  # s3.<region>.io.cloud.ovh.net (and perf.cloud.ovh.net): OVH Public Cloud Object Storage


@check
def media_credentials(cfg: StackConfig) -> Iterator[Problem]:
    """`backup.mediaCredentials: ovh` has the OVH project it creates the stores' S3 users in, on an OVH endpoint."""
    backup = cfg.backup
    if backup is None:
        return
    if backup.media_credentials == "ovh":
        if backup.ovh is None:
            yield Problem("backup.ovh", "required when backup.mediaCredentials is 'ovh': serviceName (the Public Cloud project "
                          "of the buckets) and apiEndpoint; or mediaCredentials: manual")
        host = backup.endpoint.removeprefix("https://").split("/")[0].split(":")[0]
        if not host.endswith(OVH_OBJECT_STORAGE_HOST):
            yield Problem("backup.mediaCredentials", f"'ovh' creates S3 users at OVH, but backup.endpoint {backup.endpoint!r} "
                          f"is not OVH Object Storage (a host under {OVH_OBJECT_STORAGE_HOST}); use manual for another provider")
    elif backup.ovh is not None:
        yield Problem("backup.ovh", "only read when backup.mediaCredentials is 'ovh' (it is 'manual'): remove it or choose ovh")


@check
def one_zfs_pool_name(cfg: StackConfig) -> Iterator[Problem]:
    """The StorageClasses name one pool: every host's pool must carry the same name."""
    first: tuple[int, str] | None = None
    for i, host in enumerate(cfg.hosts):
        if host.zfs is None:
            continue
        if first is None:
            first = (i, host.zfs.pool)
        elif host.zfs.pool != first[1]:
            yield Problem(
                f"hosts[{i}].zfs.pool",
                f"{host.zfs.pool!r} differs from hosts[{first[0]}].zfs.pool {first[1]!r}: the StorageClasses name one pool",
            )


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


@check
def kubernetes_upgrade(cfg: StackConfig) -> Iterator[Problem]:
    """A minor upgrade moves one minor at a time and never backwards (kubeadm's skew policy)."""
    cluster = cfg.cluster
    if cluster.upgrade_from is None:
        return
    current, target = _minor(cluster.upgrade_from), _minor(cluster.kubernetes_version)
    current_patch = tuple(int(p) for p in cluster.upgrade_from.split("."))
    target_patch = tuple(int(p) for p in cluster.kubernetes_version.split("."))
    if target_patch < current_patch:
        yield Problem("cluster.kubernetesVersion", f"{cluster.kubernetes_version} is older than cluster.upgradeFrom {cluster.upgrade_from}: kubeadm cannot downgrade")
    elif current[0] != target[0] or target[1] - current[1] > 1:
        yield Problem(
            "cluster.kubernetesVersion",
            f"upgrading from {cluster.upgrade_from} to {cluster.kubernetes_version} skips a minor: "
            f"go to {current[0]}.{current[1] + 1} first",
        )


@check
def host_baseline(cfg: StackConfig) -> Iterator[Problem]:
    """The firewall needs the networks it admits from; mirrors must be unique per registry."""
    cluster = cfg.cluster
    if cluster.mode == "kubeadm" and cluster.firewall.enabled:
        if cluster.private_network is None:
            yield Problem("cluster.privateNetwork", "required when cluster.firewall.enabled: cluster ports are opened only to it")
        if not cluster.admin_networks:
            yield Problem("cluster.adminNetworks", "required when cluster.firewall.enabled: SSH and the API are opened only to them")
        for i, host in enumerate(cfg.hosts):
            jump = host.ssh.jump_host
            if jump is not None and not _is_address(jump.host):
                yield Problem(
                    f"hosts[{i}].ssh.jumpHost.host",
                    f"{jump.host!r} must be an IP address when cluster.firewall.enabled: the firewall admits SSH from it",
                )
    registries = ((f"cluster.registryMirrors[{i}].registry", m.registry) for i, m in enumerate(cluster.registry_mirrors))
    for path, registry, first in repeats(registries):
        yield Problem(path, f"{registry} already has a mirror at {first.removesuffix('.registry')}")


AUDIT_LOG_LIMIT_MIB = 8192


@check
def audit_log_fits(cfg: StackConfig) -> Iterator[Problem]:
    """The audit log lives on each control plane's root disk (docs/hosts.md, 'Audit log')."""
    audit = cfg.cluster.audit_log
    total = (audit.max_backups + 1) * audit.max_size_mib
    if cfg.cluster.mode == "kubeadm" and total > AUDIT_LOG_LIMIT_MIB:
        yield Problem(
            "cluster.auditLog",
            f"keeps up to {total} MiB of audit log on each control plane's root disk ((maxBackups + 1) x maxSizeMib); "
            f"at most {AUDIT_LOG_LIMIT_MIB} MiB is allowed (docs/hosts.md, 'Audit log')",
        )


@check
def platform_services(cfg: StackConfig) -> Iterator[Problem]:
    """GitOps sites need the GitOps repository and the platform stack; runtime overrides name sites; Harbor's host is no store's."""
    for i, site in enumerate(cfg.sites):
        if site.delivery == "gitops" and cfg.platform.gitops is None:
            yield Problem(f"sites[{i}].delivery", "gitops needs platform.gitops (the repository Argo CD syncs)")
        if site.delivery == "gitops" and site.deployment == "stack":
            yield Problem(f"sites[{i}].delivery", "gitops needs deployment: platform (the platform stack renders the "
                          "store for Argo CD; a site stack applies it directly)")
    hostname = cfg.platform.registry.hostname
    for site in cfg.sites:
        if hostname and hostname.lower() in (domain.lower() for domain in site.domains):
            yield Problem("platform.registry.hostname", f"{hostname} is a domain of site {site.name} (each host name has one Gateway listener)")
    names = {site.name for site in cfg.sites}
    for i, name in enumerate(cfg.platform.admission.runtime_block_sites):
        if name not in names:
            yield Problem(f"platform.admission.runtimeBlockSites[{i}]", f"{name!r} is not a configured site")
    for i, registry in enumerate(cfg.platform.registry.proxy_cache):
        if registry not in cfg.platform.allowed_registries:
            yield Problem(f"platform.registry.proxyCache[{i}]", f"{registry} is not in platform.allowedRegistries")
    if cfg.platform.registry.serving and cfg.platform.registry.hostname is None:
        yield Problem("platform.registry.serving", "needs platform.registry.hostname (the name containerd mirrors use)")


@check
def mysql_fits_its_memory(cfg: StackConfig) -> Iterator[Problem]:
    """The MySQL buffer pool and every connection the stores may open fit in the memory limit; a restore needs the backup target."""
    # Imported here: the data layer's modules import the configuration package that runs these checks.
    from components.data.mysql_config import parse_memory, sizing
    from components.sizing import site_database_connections

    mysql = cfg.data.mysql
    connections = sum(site_database_connections(site) for site in cfg.sites)
    problem = sizing(parse_memory(mysql.resources.memory_limit), mysql.buffer_pool_share, connections).check()
    if problem:
        yield Problem("data.mysql.resources.memoryLimit", f"{problem} (the stores open up to {connections} connections)")
    if mysql.restore is not None and cfg.backup is None:
        yield Problem("data.mysql.restore", "restores read the mysql bucket: this stack has no backup target")


@check
def backups_kept_within_the_bucket_retention(cfg: StackConfig) -> Iterator[Problem]:
    """A tool never keeps backups longer than the bucket's retention (its lifecycle would expire them first)."""
    if cfg.backup is None:
        return
    limit = cfg.backup.retention_days
    for path, days in (("data.mysql.backup.keepDays", cfg.data.mysql.backup.keep_days),
                       ("data.opensearch.snapshots.keepDays", cfg.data.opensearch.snapshots.keep_days)):
        if days is not None and days > limit:
            yield Problem(path, f"{days} days is longer than backup.retentionDays ({limit}): the bucket expires backups after that")


@check
def growth_names_sites(cfg: StackConfig) -> Iterator[Problem]:
    sites = {site.name for site in cfg.sites}
    for index, growth in enumerate(cfg.capacity.growth):
        if growth.site not in sites:
            yield Problem(f"capacity.growth[{index}].site", f"{growth.site!r} is not a configured site")


@check
def telemetry_kept_within_the_bucket_lifecycle(cfg: StackConfig) -> Iterator[Problem]:
    """Loki and Tempo must not keep logs and traces longer than the telemetry bucket's lifecycle keeps objects:
    the bucket would expire chunks the index still points at."""
    if cfg.backup is None:
        return
    obs, bucket_days = cfg.platform.observability, cfg.backup.telemetry_retention_days
    for key, days in (("logRetentionDays", obs.log_retention_days), ("traceRetentionDays", obs.trace_retention_days)):
        if days > bucket_days:
            yield Problem(f"platform.observability.{key}",
                          f"{days} days is longer than backup.telemetryRetentionDays ({bucket_days}): the bucket expires them first")


@check
def load_balancer_announcements(cfg: StackConfig) -> Iterator[Problem]:
    """MetalLB announces with ARP on the vRack only (OVH): never on a host's public interface, never a pool inside a
    host's public subnet; public pools lie in networking.vrackBlock, off the block's reserved addresses."""
    net, cluster = cfg.networking, cfg.cluster
    kubeadm = cluster.mode == "kubeadm"
    private = {h.private_interface for h in cfg.hosts}
    for i, interface in enumerate(net.l2_interfaces):
        public = [f"hosts[{h}]" for h, host in enumerate(cfg.hosts) if host.public_interface == interface]
        if public:
            yield Problem(f"networking.l2Interfaces[{i}]", f"{interface} is {public[0]}.publicInterface: ARP for a LoadBalancer "
                          "address is answered on the vRack only; leave l2Interfaces empty to announce on each host's privateInterface")
        elif kubeadm and cfg.hosts and interface not in private:
            yield Problem(f"networking.l2Interfaces[{i}]", f"{interface} is no host's privateInterface: MetalLB announces on the vRack "
                          "interface; leave l2Interfaces empty to announce on each host's privateInterface")
    block = net.vrack_block
    block_range = parse_range(block.cidr) if block is not None else None
    if block is not None:
        if not contains(parse_range(block.cidr), block.gateway_address):
            yield Problem("networking.vrackBlock.gateway", f"{block.gateway_address} is outside networking.vrackBlock.cidr {block.cidr}")
        if cluster.private_network and overlaps(parse_range(block.cidr), parse_range(cluster.private_network)):
            yield Problem("networking.vrackBlock.cidr", f"overlaps cluster.privateNetwork {cluster.private_network}")
    private_range = parse_range(cluster.private_network) if cluster.private_network else None
    for p, pool in enumerate(net.load_balancer_pools):
        for a, address in enumerate(pool.addresses):
            path, rng = f"networking.loadBalancerPools[{p}].addresses[{a}]", parse_range(address)
            if any(overlaps(rng, parse_range(c)) for c in (cluster.pod_cidr, cluster.service_cidr)):
                continue  # networks_do_not_overlap names it
            inside_public = [(h, host.public_network) for h, host in enumerate(cfg.hosts)
                             if host.public_network and overlaps(rng, parse_range(host.public_network))]
            if inside_public:
                h, subnet = inside_public[0]
                yield Problem(path, f"{address} lies in hosts[{h}].publicNetwork {subnet}: OVH routes only the server's own addresses there; "
                              "use an additional IP block routed to the vRack (networking.vrackBlock)")
                continue
            if private_range is not None and overlaps(rng, private_range):
                continue  # an internal pool on the vRack subnet
            if block_range is not None and block is not None:
                if not (block_range[0] == rng[0] and block_range[1] <= rng[1] and rng[2] <= block_range[2]):
                    yield Problem(path, f"{address} is outside networking.vrackBlock.cidr {block.cidr}: only that block reaches the vRack")
                else:
                    taken = [r for r in block.reserved if contains(rng, r)]
                    if taken:
                        yield Problem(path, f"{address} includes {', '.join(taken)}, reserved by OVH in {block.cidr} "
                                      "(network, gateway, broadcast): hand out the addresses between them")
            elif kubeadm and private_range is not None:
                yield Problem(path, f"{address} lies outside cluster.privateNetwork and networking.vrackBlock is not set: on OVH, "
                              "ARP reaches the vRack only for an additional IP block routed to it; set networking.vrackBlock to that block")
