"""Configuration of the servers: connection, roles, ZFS pool, and the OS baseline every server gets."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config.base import Model, matching
from components.config.types import Cidr, DnsLabel, IpAddress, Quantity

Role = Literal["control-plane", "worker", "witness"]


# Key type -> what follows the type name in the key blob (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4).
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated")
    return blob[offset + 4 : end], end


def _key_blob_problem(kind: str, blob: bytes) -> str | None:
    """Why a public key blob is not a valid key of `kind` (None: it is)."""
    try:
        name, offset = _ssh_string(blob, 0)
        if name.decode(errors="replace") != kind:
            return f"the key data is a {name.decode(errors='replace')!r} key, not {kind}"
        if kind == "ssh-ed25519":
            key, offset = _ssh_string(blob, offset)
            if len(key) != 32:
                return f"an ed25519 key is 32 bytes, this one {len(key)}"
        elif kind.startswith("ecdsa-sha2-"):
            curve, offset = _ssh_string(blob, offset)
            point, offset = _ssh_string(blob, offset)
            expected = _ECDSA_POINT[kind.removeprefix("ecdsa-sha2-")]
            if curve.decode(errors="replace") != kind.removeprefix("ecdsa-sha2-") or len(point) != expected or point[:1] != b"\x04":
                return f"not a valid {kind} point"
        else:  # ssh-rsa
            _, offset = _ssh_string(blob, offset)
            modulus, offset = _ssh_string(blob, offset)
            bits = (len(modulus.lstrip(b"\x00")) * 8)
            if bits < 2048:
                return f"an RSA host key of {bits} bits is too short (2048 at least)"
    except ValueError:
        return "the key data is truncated"
    if offset != len(blob):
        return "the key data has trailing bytes"
    return None


def host_key(value: str | None) -> str | None:
    """A public host key line (`type base64 [comment]`) checked down to its wire format, so that a
    placeholder or a mangled paste fails validation instead of the first SSH dial."""
    if value is None:
        return None
    parts = value.strip().split()
    if len(parts) < 2 or not re.fullmatch(r"ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa", parts[0]):
        raise ValueError("must be a public host key line such as 'ssh-ed25519 AAAAC3Nza...' (from ssh-keyscan)")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {parts[0]} key data is not valid base64 (copy the line from ssh-keyscan)") from None
    problem = _key_blob_problem(parts[0], blob)
    if problem:
        raise ValueError(f"not a valid {parts[0]} public key: {problem} (copy the line from ssh-keyscan)")
    return f"{parts[0]} {parts[1]}"


class JumpHost(Model):
    """A bastion the SSH connection goes through (same key as the host)."""

    host: str = Field(min_length=1, description="address or name of the bastion")
    port: int = Field(22, ge=1, le=65535, description="SSH port of the bastion")
    user: str = Field("ubuntu", min_length=1, description="login user on the bastion")
    host_key: str | None = Field(None, description="the bastion's public host key, pinned")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        return host_key(value)


class SshConnection(Model):
    user: str = Field("ubuntu", min_length=1, description="login user with passwordless sudo")
    port: int = Field(22, ge=1, le=65535, description="SSH port")
    host_key: str | None = Field(None, description="the server's public host key, pinned (required in prod)")
    jump_host: JumpHost | None = Field(None, description="bastion to reach the host through")
    dial_error_limit: int = Field(30, ge=1, le=1000, description="SSH dial attempts before giving up")
    per_dial_timeout: int = Field(15, ge=1, le=600, description="seconds per SSH dial attempt")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        return host_key(value)


class ZfsDisk(Model):
    id: str = Field(description="a stable /dev/disk/by-id/ path: a whole disk, or a partition (its -partN link) on OVH's RAID1 layout")
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
    disk_size: Quantity | None = Field(
        None, description="size of the smaller mirror disk (the pool's raw capacity halved); the plan's storage model uses it"
    )

    @field_validator("disks")
    @classmethod
    def _mirror(cls, disks: list[ZfsDisk]) -> list[ZfsDisk]:
        if len(disks) != 2:
            raise ValueError(f"a mirror needs exactly 2 disks, {len(disks)} given")
        if disks[0].id == disks[1].id:
            raise ValueError("the two mirror disks must be different devices")
        whole = [re.sub(r"-part[0-9]+$", "", d.id) for d in disks]
        if whole[0] == whole[1]:
            raise ValueError(f"{disks[0].id} and {disks[1].id} are partitions of one disk: a mirror needs two disks")
        return disks


class Host(Model):
    name: DnsLabel = Field(description="host name, also the Kubernetes node name")
    public_address: IpAddress = Field(description="public address SSH connects to")
    private_address: IpAddress = Field(description="vRack address the cluster talks on")
    private_interface: str = Field(pattern=r"^[a-zA-Z0-9._-]{1,15}$", description="the vRack interface for netplan")
    public_interface: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9._-]{1,15}$", description="the public NIC (MetalLB never announces on it; checked against networking.l2Interfaces)"
    )
    public_network: Cidr | None = Field(
        None, description="the public subnet publicAddress lies in (OVH manager); no LoadBalancer pool may lie inside it"
    )
    roles: list[Role] = Field(min_length=1, description="control-plane, worker and/or witness (etcd and quorum members only)")
    failure_domain: DnsLabel | None = Field(None, description="defaults to the host name")
    ssh: SshConnection = Field(SshConnection(), description="how to reach the host over SSH")
    zfs: Zfs | None = Field(None, description="the ZFS mirror pool (required on hosts that run workloads)")
    labels: dict[str, str] = Field({}, description="extra Kubernetes node labels")
    cpus: int | None = Field(None, ge=1, le=1024, description="logical CPUs the node reports (the plan's capacity model)")
    memory: Quantity | None = Field(
        None, description="memory the node reports (MemTotal, a little under the installed RAM; the plan's capacity model)"
    )

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


HostName = Annotated[str, matching(r"^[A-Za-z0-9.-]{1,253}$", "a host name or address")]
UserName = Annotated[str, matching(r"^[a-z_][a-z0-9_-]{0,31}$", "a valid user name")]


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
            if value in (22, 2379, 2380, 2381, 6443, 10250, 10257, 10259):  # 2381: etcd metrics
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
