"""The stack configuration: one pydantic model tree for everything a stack file holds.

Every model forbids unknown keys. Keys are camelCase in the stack files (`kubernetesVersion`) and
snake_case in Python (`kubernetes_version`). Checks that involve one value live here as field
validators; checks across fields live in `checks.py` so that each problem can name its own key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components import versions
from components.config.types import BucketName, Cidr, DnsLabel, DnsName, IpAddress, Quantity, parse_quantity


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, validate_default=True
    )


# --------------------------------------------------------------------------------------------- hosts

Role = Literal["control-plane", "worker", "witness"]


class JumpHost(Model):
    """A bastion the SSH connection goes through (same key as the host)."""

    host: str = Field(min_length=1, description="address or name of the bastion")
    port: int = Field(22, ge=1, le=65535, description="SSH port of the bastion")
    user: str = Field("ubuntu", min_length=1, description="login user on the bastion")
    host_key: str | None = Field(None, description="the bastion's public host key, pinned")


class SshConnection(Model):
    user: str = Field("ubuntu", min_length=1, description="login user with passwordless sudo")
    port: int = Field(22, ge=1, le=65535, description="SSH port")
    host_key: str | None = Field(None, description="the server's public host key, pinned (required in prod)")
    jump_host: JumpHost | None = Field(None, description="bastion to reach the host through")
    dial_error_limit: int = Field(30, ge=1, le=1000, description="SSH dial attempts before giving up")
    per_dial_timeout: int = Field(15, ge=1, le=600, description="seconds per SSH dial attempt")

    @field_validator("host_key")
    @classmethod
    def _host_key_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]{16,}$", value.strip()):
            raise ValueError("must be a public host key line such as 'ssh-ed25519 AAAAC3Nza...' (from ssh-keyscan)")
        return value.strip() if value else value


class ZfsDisk(Model):
    id: str = Field(description="a stable /dev/disk/by-id/ path")
    allow_wipe: bool = Field(False, description="allow wiping a disk that holds partitions or another pool")

    @field_validator("id")
    @classmethod
    def _by_id(cls, value: str) -> str:
        if not re.match(r"^/dev/disk/by-id/[A-Za-z0-9._:+@-]+$", value):
            raise ValueError("must be a stable path under /dev/disk/by-id/ (not /dev/sdX or /dev/nvmeXnY)")
        return value


class Zfs(Model):
    pool: str = Field("tank", pattern=r"^[a-z][a-z0-9_.-]{0,62}$", description="name of the ZFS pool")
    disks: list[ZfsDisk] = Field(description="exactly two disks, mirrored")
    arc_max_gib: int = Field(8, ge=1, le=1024, description="ZFS ARC cap in GiB, also reserved from the kubelet")

    @field_validator("disks")
    @classmethod
    def _mirror(cls, disks: list[ZfsDisk]) -> list[ZfsDisk]:
        if len(disks) != 2:
            raise ValueError(f"a mirror needs exactly 2 disks, {len(disks)} given")
        if disks[0].id == disks[1].id:
            raise ValueError("the two mirror disks must be different devices")
        return disks


class Host(Model):
    name: DnsLabel = Field(description="host name, also the Kubernetes node name")
    public_address: IpAddress = Field(description="public address SSH connects to")
    private_address: IpAddress = Field(description="vRack address the cluster talks on")
    private_interface: str = Field(pattern=r"^[a-zA-Z0-9._-]{1,15}$", description="the vRack interface for netplan")
    roles: list[Role] = Field(min_length=1, description="control-plane, worker and/or witness (etcd and quorum members only)")
    failure_domain: DnsLabel | None = Field(None, description="defaults to the host name")
    ssh: SshConnection = Field(SshConnection(), description="how to reach the host over SSH")
    zfs: Zfs | None = Field(None, description="the ZFS mirror pool (required on hosts that run workloads)")
    labels: dict[str, str] = Field({}, description="extra Kubernetes node labels")

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        name = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
        for key, value in labels.items():
            if not re.fullmatch(rf"([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{name}", key):
                raise ValueError(f"{key!r} is not a Kubernetes label key (optional DNS prefix/, then a name of up to 63 characters)")
            if value and not re.fullmatch(name, value):
                raise ValueError(f"{value!r} (label {key}) is not a Kubernetes label value: up to 63 letters, digits, '-', '_', '.'")
        return labels

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError("roles must not repeat")
        if "witness" in roles and "worker" in roles:
            raise ValueError("a witness carries only etcd and quorum members: it cannot also be a worker")
        return roles

    @property
    def domain(self) -> str:
        return self.failure_domain or self.name


# --------------------------------------------------------------------------------------------- host baseline

def _matching(pattern: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.match(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


HostName = Annotated[str, _matching(r"^[A-Za-z0-9.-]{1,253}$", "a host name or address")]
UserName = Annotated[str, _matching(r"^[a-z_][a-z0-9_-]{0,31}$", "a valid user name")]


class HostOs(Model):
    """The OS baseline every server gets in the 10-baseline stage."""

    kernel_version: str | None = Field(
        None,
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$",
        description="kernel ABI to hold, e.g. 6.8.0-88 (linux-image-<abi>-generic); unset holds the running kernel",
    )
    timezone: str = Field("Etc/UTC", pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}$", description="IANA time zone")
    ntp_servers: list[HostName] = Field(
        default_factory=lambda: ["ntp.ovh.net", "ntp.ubuntu.com"],
        min_length=1,
        description="NTP servers chrony synchronises with",
    )
    ssh_allow_users: list[UserName] = Field(
        default_factory=list, description="extra users allowed to log in over SSH besides each host's ssh.user"
    )
    unattended_upgrades: bool = Field(True, description="install security updates automatically (never reboots; kured does)")


class Firewall(Model):
    """Host firewall: SSH and the API only from cluster.adminNetworks, cluster ports only from the private network."""

    enabled: bool = Field(True, description="manage the nftables ruleset (off only for debugging)")
    public_tcp_ports: list[int] = Field(
        default_factory=lambda: [80, 443], description="TCP ports open to everyone (the Gateway's HTTP and HTTPS)"
    )

    @field_validator("public_tcp_ports")
    @classmethod
    def _ports(cls, values: list[int]) -> list[int]:
        for value in values:
            if not 1 <= value <= 65535:
                raise ValueError(f"{value} is not a TCP port")
            if value in (22, 2379, 2380, 6443, 10250, 10257, 10259):
                raise ValueError(f"port {value} is for admins or the cluster only and cannot be public")
        return values


class RegistryMirror(Model):
    """A containerd mirror for one upstream registry (a hosts.toml under /etc/containerd/certs.d)."""

    registry: str = Field(pattern=r"^[a-z0-9.-]+(:\d+)?$", description="upstream registry, e.g. docker.io")
    endpoint: str = Field(
        pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._/-]*)?$",
        description="mirror URL, e.g. https://harbor.example.com/v2/dockerhub-proxy (https only)",
    )
    override_path: bool = Field(False, description="the endpoint already contains the /v2 API path (Harbor projects)")


class KubeletReservations(Model):
    """What the kubelet keeps for the system; the ZFS ARC cap of each host is added to systemReserved memory."""

    system_reserved_cpu: Quantity = Field("500m", description="CPU reserved for the OS")
    system_reserved_memory: Quantity = Field("1Gi", description="memory reserved for the OS, before the ZFS ARC is added")
    kube_reserved_cpu: Quantity = Field("500m", description="CPU reserved for kubelet and containerd")
    kube_reserved_memory: Quantity = Field("1Gi", description="memory reserved for kubelet and containerd")
    eviction_memory_available: Quantity = Field("500Mi", description="hard eviction when free memory drops below this")
    eviction_nodefs_available: str = Field("10%", pattern=r"^[0-9]{1,2}%$", description="hard eviction on root filesystem space")
    eviction_imagefs_available: str = Field("15%", pattern=r"^[0-9]{1,2}%$", description="hard eviction on image filesystem space")
    max_pods: int = Field(110, ge=10, le=250, description="pods per node")


# --------------------------------------------------------------------------------------------- cluster


class ExistingCluster(Model):
    """An already running cluster (for example a laptop cluster in dev)."""

    context: str | None = Field(None, description="kubeconfig context; the secret `kubeconfig` or ~/.kube/config")
    failure_domains: int = Field(1, ge=1, le=16, description="independent failure domains the existing cluster spans")


class Cluster(Model):
    mode: Literal["kubeadm", "existing"] = Field("kubeadm", description="kubeadm: build the cluster on the hosts; existing: use a running cluster")
    kubernetes_version: str = Field(versions.KUBERNETES_DEFAULT, description="full Kubernetes version, within the supported minors")
    control_plane_endpoint: str | None = Field(None, description="host:port of the API server (VIP or first control plane)")
    pod_cidr: Cidr = Field("10.244.0.0/16", description="pod network")
    service_cidr: Cidr = Field("10.96.0.0/12", description="Service network")
    private_network: Cidr | None = Field(None, description="the vRack subnet all private addresses belong to")
    admin_networks: list[Cidr] = Field(default_factory=list, description="networks allowed to reach SSH and the API")
    high_availability: bool = Field(False, description="run quorum members in 3 failure domains (needs 3 control planes)")
    existing: ExistingCluster | None = Field(None, description="settings for cluster.mode existing")
    upgrade_from: str | None = Field(
        None,
        description="during a minor upgrade, the Kubernetes version the cluster runs now (skipping a minor is rejected)",
    )
    host_os: HostOs = Field(default_factory=lambda: HostOs(), description="host OS baseline of every server")
    firewall: Firewall = Field(default_factory=lambda: Firewall(), description="host firewall (nftables) of every server")
    registry_mirrors: list[RegistryMirror] = Field(
        default_factory=list, description="containerd registry mirrors (certs.d), e.g. the Harbor proxy cache"
    )
    kubelet: KubeletReservations = Field(
        default_factory=lambda: KubeletReservations(), description="kubelet reservations, eviction and pod limit"
    )

    @field_validator("upgrade_from")
    @classmethod
    def _upgrade_from(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^v?\d+\.\d+\.\d+$", value):
            raise ValueError("must be a full Kubernetes version such as 1.35.9")
        return value.lstrip("v") if value else value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)$", value)
        if not match:
            raise ValueError("must be a full Kubernetes version such as 1.36.4")
        minor = f"{match.group(1)}.{match.group(2)}"
        if minor not in versions.KUBERNETES_MINORS:
            raise ValueError(f"{minor} is outside the supported matrix ({', '.join(versions.KUBERNETES_MINORS)})")
        return value.lstrip("v")

    @field_validator("control_plane_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9.-]+:\d{2,5}$", value):
            raise ValueError("must be host:port, for example 10.10.0.10:6443")
        return value

    @property
    def minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])


# --------------------------------------------------------------------------------------------- networking


class AddressPool(Model):
    name: DnsLabel = Field(description="pool name")
    addresses: list[str] = Field(min_length=1, description="CIDRs or first-last ranges")
    auto_assign: bool = Field(True, description="hand out addresses without an explicit request")

    @field_validator("addresses")
    @classmethod
    def _ranges(cls, values: list[str]) -> list[str]:
        from components.config.netutil import parse_range

        for value in values:
            parse_range(value)
        return values


class Networking(Model):
    load_balancer_pools: list[AddressPool] = Field(min_length=1, description="LoadBalancer address pools (MetalLB)")
    l2_interfaces: list[str] = Field(default_factory=list, description="interfaces MetalLB announces on")
    hubble_ui: bool = Field(True, description="deploy the Hubble UI")


# --------------------------------------------------------------------------------------------- storage


class Storage(Model):
    default_class: str = Field("zfs", pattern=r"^[a-z0-9-]{1,63}$", description="name of the default StorageClass")
    database_class: str = Field("zfs-db", pattern=r"^[a-z0-9-]{1,63}$", description="name of the StorageClass tuned for databases")
    database_recordsize: Literal["8k", "16k", "32k", "64k", "128k"] = Field("16k", description="ZFS recordsize of database volumes")
    compression: Literal["lz4", "zstd", "off"] = Field("lz4", description="ZFS compression of volumes")


# --------------------------------------------------------------------------------------------- edge


class Acme(Model):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="ACME account e-mail")
    server: Literal[
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ] = Field("https://acme-v02.api.letsencrypt.org/directory", description="ACME directory (production or staging)")
    solver: Literal["http01", "dns01"] = Field("http01", description="ACME challenge type")
    dns_provider: Literal["cloudflare"] | None = Field(
        None, description="DNS provider for dns01, with its API token in the secret acmeDnsApiToken (cloudflare is built in)"
    )


class Edge(Model):
    acme: Acme = Field(description="certificate issuance")
    gateway_address: IpAddress | None = Field(None, description="fixed LoadBalancer address of the shared Gateway")
    trusted_proxy_cidrs: list[Cidr] = Field(default_factory=list, description="CDN ranges whose X-Forwarded-For is trusted")


# --------------------------------------------------------------------------------------------- platform


class Observability(Model):
    retention_days: int = Field(15, ge=1, le=3650, description="days metrics and logs are kept")
    prometheus_storage: Quantity = Field("50Gi", description="Prometheus volume size")
    loki_storage: Quantity = Field("50Gi", description="Loki volume size")
    service_monitors: bool = Field(
        False,
        description="create ServiceMonitors for the cluster components (needs the Prometheus Operator CRDs: "
        "turn on once kube-prometheus-stack is installed)",
    )


class Platform(Model):
    secrets_backend: Literal["openbao", "vault"] = Field("openbao", description="secrets store behind External Secrets")
    observability: Observability = Field(Observability(), description="metrics and logs")
    allowed_registries: list[str] = Field(
        default_factory=lambda: ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io"],
        description="registries images may come from (policy pack and Kyverno)",
    )


# --------------------------------------------------------------------------------------------- sizes


class ComputeResources(Model):
    cpu_request: Quantity = Field(description="CPU request per replica")
    memory_request: Quantity = Field(description="memory request per replica")
    cpu_limit: Quantity = Field(description="CPU limit per replica")
    memory_limit: Quantity = Field(description="memory limit per replica")

    @model_validator(mode="after")
    def _request_within_limit(self) -> ComputeResources:
        if parse_quantity(self.cpu_request) > parse_quantity(self.cpu_limit):
            raise ValueError(f"cpuRequest {self.cpu_request} exceeds cpuLimit {self.cpu_limit}")
        if parse_quantity(self.memory_request) > parse_quantity(self.memory_limit):
            raise ValueError(f"memoryRequest {self.memory_request} exceeds memoryLimit {self.memory_limit}")
        return self

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


class DataService(Model):
    replicas: int | None = Field(None, ge=1, le=9, description="defaults to 3 with 3+ failure domains, else 1")
    storage: Quantity = Field(description="volume size per replica")
    resources: ComputeResources = Field(description="requests and limits per replica")


def _default_service(cpu: str, memory: str, storage: str) -> DataService:
    return DataService(
        storage=storage,
        resources=ComputeResources(cpu_request=cpu, memory_request=memory, cpu_limit=cpu, memory_limit=memory),
    )


class DataServices(Model):
    mysql: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="Percona XtraDB Cluster (MySQL 8.4)")
    opensearch: DataService = Field(_default_service("1", "2Gi", "20Gi"), description="OpenSearch 2.19")
    rabbitmq: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="RabbitMQ 4.1")
    valkey: DataService = Field(_default_service("500m", "1Gi", "5Gi"), description="Valkey 8.1 with Sentinel")


# --------------------------------------------------------------------------------------------- backup

class BackupBuckets(Model):
    velero: BucketName = Field(description="bucket for Velero cluster backups")
    mysql: BucketName = Field(description="bucket for MySQL backups and binlogs (PITR)")
    opensearch: BucketName = Field(description="bucket for OpenSearch snapshots")
    media: BucketName = Field(description="bucket for the stores' media")


class Backup(Model):
    endpoint: str = Field(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/?$", description="S3-compatible endpoint (https)")
    region: str = Field(pattern=r"^[a-z0-9-]{2,32}$", description="region of the object storage")
    buckets: BackupBuckets = Field(description="one bucket per backup stream")
    retention_days: int = Field(30, ge=1, le=3650, description="days backups are kept")
    noncurrent_version_days: int = Field(30, ge=1, le=3650, description="days overwritten or deleted object versions are kept")


# --------------------------------------------------------------------------------------------- sites


class SiteImage(Model):
    repository: str = Field(pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$", description="the store's built image (registry/path)")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="pinned tag of the build (never latest)")

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not a pinned tag: use the build's version or digest tag")
        return value


class SiteQuota(Model):
    cpu: Quantity = Field("8", description="CPU requests and limits the namespace may hold")
    memory: Quantity = Field("16Gi", description="memory requests and limits the namespace may hold")
    storage: Quantity = Field("50Gi", description="storage the namespace may claim")
    pods: int = Field(60, ge=10, le=1000, description="pods the namespace may run")


WafExclusion = Literal["admin", "rest", "graphql"]


class SiteWaf(Model):
    """The store's WAF tier (OWASP CRS on ModSecurity v3, nginx image) between the Gateway and Varnish."""

    mode: Literal["detection-only", "blocking"] = Field(
        "detection-only", description="detection-only logs matches; blocking rejects requests over the anomaly threshold"
    )
    paranoia_level: int = Field(1, ge=1, le=4, description="CRS blocking paranoia level (1 = fewest false positives)")
    anomaly_inbound_threshold: int = Field(5, ge=1, le=10000, description="CRS inbound anomaly score that blocks a request")
    exclusions: list[WafExclusion] = Field(
        default_factory=lambda: ["admin", "rest", "graphql"],
        description="Magento rule exclusions to load: admin (rich-text fields), rest (JSON, PUT/DELETE), graphql",
    )
    min_replicas: int = Field(2, ge=1, le=50, description="WAF pods kept running (HPA minimum)")
    max_replicas: int = Field(6, ge=1, le=100, description="WAF pods the HPA may scale to")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="average CPU utilisation the HPA aims for")
    resources: ComputeResources = Field(
        default_factory=lambda: ComputeResources(
            cpu_request="250m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi"
        ),
        description="requests and limits of one WAF container",
    )

    @field_validator("exclusions")
    @classmethod
    def _unique_exclusions(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("exclusions must not repeat")
        return values

    @model_validator(mode="after")
    def _replica_range(self) -> SiteWaf:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} exceeds maxReplicas {self.max_replicas}")
        return self


class RateLimit(Model):
    """A local (per Envoy replica) rate limit on one of the store's hot endpoints."""

    name: DnsLabel = Field(description="names the rule (one BackendTrafficPolicy rule per endpoint)")
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="request path (or regular expression); `{adminPath}` stands for the site's adminPath",
    )
    match: Literal["Exact", "PathPrefix", "RegularExpression"] = Field("PathPrefix", description="how path matches")
    requests: int = Field(ge=1, le=1_000_000, description="requests allowed per unit")
    unit: Literal["Second", "Minute", "Hour"] = Field("Minute", description="the period of the limit")

    @model_validator(mode="after")
    def _path_shape(self) -> RateLimit:
        if self.match == "RegularExpression":
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regular expression: {exc}") from None
        elif not self.path.startswith("/"):
            raise ValueError("an Exact or PathPrefix path must start with '/' (path)")
        return self


def _default_rate_limits() -> list[RateLimit]:
    return [
        RateLimit(name="customer-login", path="/customer/account/loginPost", match="PathPrefix", requests=60),
        RateLimit(name="admin", path="/{adminPath}", match="PathPrefix", requests=300),
        RateLimit(
            name="token",
            path=r"^/rest/([A-Za-z0-9_]+/)?V1/integration/(customer|admin)/token",
            match="RegularExpression",
            requests=30,
        ),
        RateLimit(name="graphql", path="/graphql", match="PathPrefix", requests=1200),
        RateLimit(name="checkout", path="/checkout", match="PathPrefix", requests=600),
    ]


class SiteEdge(Model):
    """How the shared edge serves the store: admin path and allow-list, rate limits, WAF."""

    admin_path: str = Field(
        "admin", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Magento's backend frontName (app/etc/env.php backend.frontName)"
    )
    admin_allow_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="client networks allowed to reach the admin path; empty leaves the admin open to every client",
    )
    rate_limits: list[RateLimit] = Field(
        default_factory=_default_rate_limits, description="one local rate limit per hot endpoint"
    )
    waf: SiteWaf = Field(default_factory=SiteWaf, description="the WAF tier in front of the store")

    @field_validator("rate_limits")
    @classmethod
    def _unique_names(cls, values: list[RateLimit]) -> list[RateLimit]:
        names = [v.name for v in values]
        if len(set(names)) != len(names):
            raise ValueError("rate limit names must be unique")
        return values


class Site(Model):
    name: DnsLabel = Field(description="the store's short name; its namespace is site-<name>")
    domains: list[DnsName] = Field(min_length=1, description="host names the store answers on")
    magento_version: Literal[versions.MAGENTO_VERSIONS] = Field(  # type: ignore[valid-type]
        versions.MAGENTO_VERSIONS[-1], description="Magento release of the build")
    php_version: Literal[versions.PHP_VERSIONS] = Field(  # type: ignore[valid-type]
        versions.PHP_VERSIONS[0], description="PHP version of the build")
    image: SiteImage = Field(description="the store's image")
    quota: SiteQuota = Field(SiteQuota(), description="namespace quota")
    edge: SiteEdge = Field(default_factory=SiteEdge, description="routing, rate limits and WAF at the shared edge")

    @field_validator("name")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > 30:
            raise ValueError("must be at most 30 characters so that derived names stay within 63")
        return value



# --------------------------------------------------------------------------------------------- root


class StackConfig(Model):
    environment: Literal["dev", "prod"] = Field(description="dev or prod")
    protect_stateful: bool = Field(True, description="protect stateful resources from deletion")
    hosts: list[Host] = Field(default_factory=list, description="the servers (cluster.mode kubeadm)")
    cluster: Cluster = Field(Cluster(), description="Kubernetes cluster")
    networking: Networking = Field(description="cluster networking and LoadBalancer pools")
    storage: Storage = Field(Storage(), description="StorageClasses on LocalPV-ZFS")
    edge: Edge = Field(description="the shared Gateway, TLS and client IPs")
    platform: Platform = Field(Platform(), description="platform services")
    data: DataServices = Field(DataServices(), description="sizes of the shared data services")
    backup: Backup | None = Field(None, description="S3-compatible backup target (required in prod)")
    sites: list[Site] = Field(default_factory=list, description="the Magento stores")

    @property
    def failure_domains(self) -> int:
        if self.cluster.mode == "existing":
            return self.cluster.existing.failure_domains if self.cluster.existing else 1
        return len({host.domain for host in self.hosts})

    @property
    def control_planes(self) -> list[Host]:
        return [h for h in self.hosts if "control-plane" in h.roles]

    def replicas_for(self, service: DataService) -> int:
        """Replicas of a quorum service: explicit, else 3 when three failure domains exist, else 1."""
        if service.replicas is not None:
            return service.replicas
        return 3 if self.failure_domains >= 3 else 1
