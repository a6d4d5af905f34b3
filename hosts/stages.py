"""The stages each server goes through, rendered from the stack configuration (no Pulumi here).

A stage is one bash script from `hosts/scripts/` (with `lib.sh` inlined, so the file that runs is
self-contained), an env file rendered from configuration, and any configuration files it installs.
`host_stages()` lists a host's stages in order; `hosts/host.py` turns each into CopyToRemote
resources and one `remote.Command`, and the tests run the very same rendered texts in a sandbox.

Stage numbers order the work and name the resources (`<host>-<NN>-<stage>`):

    10 baseline   15 api-vip (control planes, keepalived)   20 zfs   30 containerd   40 kubernetes-packages
    45 apiserver-files (control planes: encryption at rest, audit policy)   50 kubeadm-init (first control plane)
    55 join-token (on the first control plane)   60 kubeadm-join (every other host)
    65 apiserver-cert (control planes: the certificate follows the wanted SANs)
    70 node (labels, serving CSRs; deleting it deletes the Node)   71 leave (kubeadm reset on delete)
    72 drain (drain on delete)   80 upgrade-drain   81 kubeadm-upgrade   82 upgrade-uncordon
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from components import versions
from components.config.model import Cluster as ClusterSettings
from components.config.model import Host as HostSettings
from components.config.networking import VrackBlock
from hosts import apiserver, kubeadm

SCRIPTS = Path(__file__).parent / "scripts"
FILES = Path(__file__).parent / "files"
# node exporter's textfile collector directory on every host: the baseline writes the host health metrics
# there (hosts/files), node exporter mounts it read-only (components/platform/observability/prometheus.py).
TEXTFILE_DIR = "/var/lib/node-exporter/textfile"
LIB_SOURCE_LINE = '. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"'
RunsOn = Literal["host", "first-control-plane"]


def render_script(name: str) -> str:
    """A script from hosts/scripts with lib.sh inlined in place of the line that sources it."""
    text = (SCRIPTS / name).read_text()
    if LIB_SOURCE_LINE not in text:
        return text
    lib = (SCRIPTS / "lib.sh").read_text()
    lib = "\n".join(line for line in lib.splitlines() if not line.startswith("# shellcheck shell="))
    inlined = f"# --- lib.sh (inlined)\n{lib.strip()}\n# --- end of lib.sh"
    lines = [line for line in text.splitlines() if "shellcheck source-path" not in line]
    return "\n".join(inlined if line == LIB_SOURCE_LINE else line for line in lines) + "\n"


def env_text(env: dict[str, str]) -> str:
    """KEY='value' lines, shell-quoted: the env file a stage script sources."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())


@dataclass(frozen=True)
class Invocation:
    """A script of hosts/scripts and its extra arguments (after the env file)."""

    script: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    """One step on one server. `files` maps an env variable to (file name, content) copied beside it."""

    number: str
    name: str
    env: dict[str, str]
    create: Invocation | None
    delete: Invocation | None = None
    runs_on: RunsOn = "host"
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    secret_output: bool = False
    # Its stdin is a secret (the encryption keys of stage 45): never logged, never in the environment.
    secret_input: bool = False
    # Files copied (and kept current) but left out of the digest: stage 65's kubeadm configuration,
    # used only when the SANs differ, so that a version bump does not run that stage again.
    untracked_files: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.number}-{self.name}"

    @property
    def scripts(self) -> dict[str, str]:
        """Rendered text of every script this stage runs, by file name."""
        return {inv.script: render_script(inv.script) for inv in (self.create, self.delete) if inv is not None}

    def full_env(self, directory: str) -> dict[str, str]:
        env = dict(self.env)
        for variable, (filename, _) in self.files.items():
            env[variable] = f"{directory}/{filename}"
        return env

    def digest(self) -> str:
        """Hash of everything the stage runs: scripts, parameters, files, arguments."""
        h = hashlib.sha256()
        for name, text in sorted(self.scripts.items()):
            h.update(f"script {name}\n{text}".encode())
        h.update(env_text(self.env).encode())
        for variable, (filename, content) in sorted(self.files.items()):
            if variable in self.untracked_files:
                continue
            h.update(f"file {variable} {filename}\n{content}".encode())
        for inv in (self.create, self.delete):
            h.update(repr(inv).encode())
        return h.hexdigest()

    @property
    def acts_on_delete(self) -> bool:
        return self.delete is not None


def remote_home(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def stage_directory(user: str, host: str, stage: Stage) -> str:
    """Where a stage's files are copied on the machine it runs on (one directory per host and stage)."""
    return f"{remote_home(user)}/.magento-hosts/{host}/{stage.key}"


def command_line(directory: str, invocation: Invocation) -> str:
    """The command text: the copied script with the copied env file; never a secret in it."""
    args = "".join(f" {shlex.quote(a)}" for a in invocation.args)
    return f"sudo bash {directory}/{invocation.script} {directory}/stage.env{args}"


def _networks(cidrs: list[str]) -> tuple[str, str]:
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
    return ", ".join(v4), ", ".join(v6)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _bool(value: bool) -> str:
    return "true" if value else "false"


def package_version(kubernetes_version: str) -> str:
    return f"{kubernetes_version}-{versions.KUBERNETES_PACKAGE_REVISION}"


def baseline_env(host: HostSettings, cluster: ClusterSettings) -> dict[str, str]:
    os_, firewall = cluster.host_os, cluster.firewall
    users = [host.ssh.user, *[u for u in os_.ssh_allow_users if u != host.ssh.user]]
    prefix = ipaddress.ip_network(cluster.private_network).prefixlen if cluster.private_network else 24
    admin_v4, admin_v6 = _networks(cluster.admin_networks)
    cluster_v4, cluster_v6 = _networks([c for c in (cluster.private_network, cluster.pod_cidr) if c])
    pod_v4, pod_v6 = _networks([cluster.pod_cidr])
    jump = host.ssh.jump_host
    jump_hosts = [f"{jump.host}/{32 if ':' not in jump.host else 128}"] if jump is not None and _is_ip(jump.host) else []
    jump_v4, jump_v6 = _networks(jump_hosts)
    return {
        "HOST_NAME": host.name,
        "SSH_ALLOW_USERS": " ".join(users),
        "PERMIT_ROOT_LOGIN": "prohibit-password" if host.ssh.user == "root" else "no",
        "TIMEZONE": os_.timezone,
        "NTP_SERVERS": " ".join(os_.ntp_servers),
        "KERNEL_VERSION": os_.kernel_version or "",
        "UNATTENDED_UPGRADES": _bool(os_.unattended_upgrades),
        "PRIVATE_INTERFACE": host.private_interface,
        "PRIVATE_ADDRESS": f"{host.private_address}/{prefix}",
        "FIREWALL": _bool(firewall.enabled),
        "ADMIN_NETWORKS_V4": admin_v4,
        "ADMIN_NETWORKS_V6": admin_v6,
        "CLUSTER_NETWORKS_V4": cluster_v4,
        "CLUSTER_NETWORKS_V6": cluster_v6,
        "PUBLIC_TCP_PORTS": ", ".join(str(p) for p in firewall.public_tcp_ports),
        "SSH_PORT": str(host.ssh.port),
        "JUMP_HOSTS_V4": jump_v4,
        "JUMP_HOSTS_V6": jump_v6,
        "POD_NETWORKS_V4": pod_v4,
        "POD_NETWORKS_V6": pod_v6,
    }


def host_health_env(host: HostSettings) -> dict[str, str]:
    """The host health metrics of the baseline: ZED and its zedlet only where a ZFS pool is."""
    return {"TEXTFILE_DIR": TEXTFILE_DIR, "ZFS_HOST": _bool(host.zfs is not None)}


def host_health_files() -> dict[str, tuple[str, str]]:
    """The collector run by magento-host-health.timer and the ZED zedlet (hosts/files), copied beside the baseline."""
    return {
        "HOST_HEALTH_SCRIPT": ("magento-host-health.sh", (FILES / "magento-host-health.sh").read_text()),
        "ZEDLET": ("all-magento-metrics.sh", (FILES / "all-magento-metrics.sh").read_text()),
    }


# Policy routing table for replies from the LoadBalancer block (networking.vrackBlock); not a table systemd-networkd
# or Cilium use (Cilium: 2004 and 2005; the main table is 254).
LB_ROUTE_TABLE = 100


def return_routing_env(host: HostSettings, vrack_block: VrackBlock | None) -> dict[str, str]:
    """Replies from the additional IP block MetalLB announces leave through the block's gateway on the vRack,
    not the public default route (OVH drops them there). Not on the witness: it never announces."""
    if vrack_block is None or "witness" in host.roles:
        return {"LB_BLOCK": "", "LB_GATEWAY": "", "LB_ROUTE_TABLE": ""}
    return {"LB_BLOCK": vrack_block.cidr, "LB_GATEWAY": vrack_block.gateway_address, "LB_ROUTE_TABLE": str(LB_ROUTE_TABLE)}


def api_vip_env(host: HostSettings, cluster: ClusterSettings, control_planes: list[HostSettings]) -> dict[str, str]:
    """keepalived on one control plane: unicast peers are the other control planes' private addresses;
    priorities follow the bootstrap order (the first control plane highest)."""
    assert cluster.api_vip is not None
    prefix = ipaddress.ip_network(cluster.private_network).prefixlen if cluster.private_network else 24
    names = [h.name for h in control_planes]
    return {
        "HOST_NAME": host.name,
        "VIP": cluster.api_vip.address,
        "VIP_PREFIX": str(prefix),
        "INTERFACE": host.private_interface,
        "SOURCE_ADDRESS": host.private_address,
        "PEERS": " ".join(h.private_address for h in control_planes if h.name != host.name),
        "PRIORITY": str(max(150 - 10 * names.index(host.name), 10)),
        "ROUTER_ID": str(cluster.api_vip.virtual_router_id),
        "API_PORT": str(kubeadm.API_PORT),
    }


def zfs_env(host: HostSettings, index: int) -> dict[str, str]:
    assert host.zfs is not None
    zfs = host.zfs
    return {
        "DISK_KEY": f"hosts[{index}].zfs.disks",
        "POOL": zfs.pool,
        "DISK_1": zfs.disks[0].id,
        "DISK_2": zfs.disks[1].id,
        "ALLOW_WIPE_1": _bool(zfs.disks[0].allow_wipe),
        "ALLOW_WIPE_2": _bool(zfs.disks[1].allow_wipe),
        "ARC_MAX_BYTES": str(kubeadm.arc_bytes(host)),
    }


def containerd_env(cluster: ClusterSettings) -> dict[str, str]:
    containerd, pause = versions.PACKAGES["containerd"], versions.PACKAGES["pause"]
    mirrors = " ".join(f"{m.registry}|{m.endpoint}|{_bool(m.override_path)}" for m in cluster.registry_mirrors)
    return {
        "CONTAINERD_PACKAGE_VERSION": f"{containerd.version}~ubuntu.24.04~noble",
        "RUNC_VERSION": versions.PACKAGES["runc"].version,
        "PAUSE_IMAGE": f"{pause.name}:{pause.version}",
        "REGISTRY_MIRRORS": mirrors,
    }


def kubernetes_env(host: HostSettings, cluster: ClusterSettings) -> dict[str, str]:
    return {
        "KUBERNETES_MINOR": cluster.minor,
        "KUBERNETES_VERSION": cluster.kubernetes_version,
        "CONTROL_PLANE": _bool("control-plane" in host.roles),
        "KUBERNETES_PACKAGE_VERSION": package_version(cluster.kubernetes_version),
        "CNI_PACKAGE_VERSION": versions.PACKAGES["kubernetes-cni"].version,
    }


def component_patch_files(host: HostSettings) -> dict[str, tuple[str, str]]:
    """The control-plane component patches a stage copies (env variable -> file), none on other nodes."""
    variables = {"kube-controller-manager+strategic.yaml": "CONTROLLER_MANAGER_PATCH", "kube-scheduler+strategic.yaml": "SCHEDULER_PATCH"}
    return {variables[name]: (name.replace("+", "-"), text) for name, text in kubeadm.control_plane_patches(host).items()}


def apiserver_files_stage(cluster: ClusterSettings) -> Stage:
    """45: the EncryptionConfiguration (keys from stdin) and the audit policy of a control plane."""
    return Stage(
        "45", "apiserver-files",
        {"KEY_NAMES": " ".join(cluster.secrets_encryption.keys), "APISERVER_DIR": apiserver.APISERVER_DIR, "AUDIT_DIR": apiserver.AUDIT_DIR},
        Invocation("45-apiserver-files.sh"),
        files={
            "ENCRYPTION_TEMPLATE": ("encryption-config.template.yaml", apiserver.encryption_configuration_template(cluster)),
            "AUDIT_POLICY_FILE": ("audit-policy.yaml", apiserver.audit_policy_text()),
        },
        secret_input=True,
    )


def apiserver_cert_stage(host: HostSettings, first: HostSettings, cluster: ClusterSettings) -> Stage:
    """65: the API server certificate regenerated when its wanted SANs change. Its digest is the
    script and the SANs (not the kubeadm configuration it copies), so it runs again only when those change."""
    return Stage(
        "65", "apiserver-cert",
        {"WANTED_SANS": "|".join(kubeadm.apiserver_sans(host, first, cluster))},
        Invocation("65-apiserver-cert.sh"),
        files={"KUBEADM_CONFIG": ("kubeadm-certs.yaml", kubeadm.certs_configuration(host, first, cluster))},
        untracked_files=("KUBEADM_CONFIG",),
    )


def host_stages(
    host: HostSettings, index: int, cluster: ClusterSettings, *, first: bool, control_planes: list[HostSettings],
    vrack_block: VrackBlock | None = None,
) -> list[Stage]:
    """The ordered stages of one host. `first` marks the control plane that runs `kubeadm init`;
    `control_planes` (bootstrap order) are the keepalived peers when cluster.apiVip is set."""
    node = {"NODE_NAME": host.name}
    patch = ("kubelet-patch.yaml", kubeadm.kubelet_patch(host, cluster))
    component_patches = component_patch_files(host)
    # 81 runs again when the control-plane components' settings change: it renders their static pods anew, one
    # control plane after the other (the upgrade chain), without a drain (no workload moves for that).
    first_control_plane = control_planes[0] if control_planes else host
    control = {"CONTROL_PLANE_DIGEST": kubeadm.control_plane_digest(host, first_control_plane, cluster)}
    stages = [Stage("10", "baseline", {**baseline_env(host, cluster), **host_health_env(host), **return_routing_env(host, vrack_block)}, Invocation("10-baseline.sh"),
                    files=host_health_files())]
    if cluster.api_vip is not None and "control-plane" in host.roles:
        stages.append(Stage("15", "api-vip", api_vip_env(host, cluster, control_planes), Invocation("15-api-vip.sh")))
    if host.zfs is not None:
        stages.append(Stage("20", "zfs", zfs_env(host, index), Invocation("20-zfs.sh")))
    stages += [
        Stage("30", "containerd", containerd_env(cluster), Invocation("30-containerd.sh")),
        Stage("40", "kubernetes-packages", kubernetes_env(host, cluster), Invocation("40-kubernetes-packages.sh")),
    ]
    control_plane_host = "control-plane" in host.roles
    if control_plane_host:
        stages.append(apiserver_files_stage(cluster))
    if first:
        stages.append(
            Stage(
                "50", "kubeadm-init", {}, Invocation("50-kubeadm-init.sh"),
                files={"KUBEADM_CONFIG": ("kubeadm-init.yaml", kubeadm.init_configuration(host, cluster)), "KUBELET_PATCH": patch,
                       **component_patches},
            )
        )
    else:
        control_plane = {"CONTROL_PLANE": _bool("control-plane" in host.roles)}
        peer = {"PEER_URL": f"https://{_url_host(host.private_address)}:2380"}
        stages += [
            Stage("55", "join-token", {**node, **control_plane, **peer}, Invocation("55-join-token.sh"),
                  runs_on="first-control-plane", secret_output=True),
            Stage(
                "60", "kubeadm-join", {**node, **control_plane}, Invocation("60-kubeadm-join.sh"),
                files={"JOIN_TEMPLATE": ("kubeadm-join.yaml", kubeadm.join_configuration_template(host, cluster)), "KUBELET_PATCH": patch,
                       **component_patches},
            ),
        ]
    if control_plane_host:
        stages.append(apiserver_cert_stage(host, first_control_plane, cluster))
    labels = " ".join(f"{k}={v}" for k, v in sorted(kubeadm.node_labels(host).items()))
    kubelet = {"KUBELET_DIGEST": kubeadm.kubelet_digest(host, cluster)}
    stages.append(
        Stage("70", "node", {**node, "NODE_LABELS": labels, "REMOVE_TAINTS": " ".join(kubeadm.stale_taints(host)), **kubelet},
              Invocation("70-node-register.sh"),
              delete=None if first else Invocation("75-node-remove.sh", ("delete",)), runs_on="first-control-plane")
    )
    if not first:
        stages += [
            Stage("71", "leave", node, None, delete=Invocation("76-kubeadm-reset.sh")),
            Stage("72", "drain", node, None, delete=Invocation("75-node-remove.sh", ("drain",)), runs_on="first-control-plane"),
        ]
    upgrade = {**node, "KUBERNETES_VERSION": cluster.kubernetes_version, **kubelet}
    stages += [
        Stage("80", "upgrade-drain", upgrade, Invocation("80-upgrade-window.sh", ("drain",)), runs_on="first-control-plane"),
        Stage(
            "81", "kubeadm-upgrade",
            {
                "KUBERNETES_VERSION": cluster.kubernetes_version,
                "KUBERNETES_PACKAGE_VERSION": package_version(cluster.kubernetes_version),
                "FIRST_CONTROL_PLANE": _bool(first),
                **kubelet,
                **control,
            },
            Invocation("81-kubeadm-upgrade.sh"),
            files=component_patches,
        ),
        Stage("82", "upgrade-uncordon", upgrade, Invocation("80-upgrade-window.sh", ("uncordon",)), runs_on="first-control-plane"),
    ]
    return stages


def bootstrap_order(hosts: list[HostSettings]) -> list[HostSettings]:
    """Hosts in the order they join and upgrade: the first control plane, the other control planes
    (one at a time, etcd grows by one member), then the rest, each group in stack-file order."""
    control_planes = [h for h in hosts if "control-plane" in h.roles]
    return control_planes + [h for h in hosts if "control-plane" not in h.roles]


def stages_by_host(hosts: list[HostSettings], cluster: ClusterSettings, vrack_block: VrackBlock | None = None) -> dict[str, list[Stage]]:
    """Every host's stages, as the hosts layer renders them (bootstrap order decides the first)."""
    ordered = bootstrap_order(hosts)
    control_planes = [h for h in ordered if "control-plane" in h.roles]
    return {
        h.name: host_stages(h, hosts.index(h), cluster, first=h is ordered[0], control_planes=control_planes,
                              vrack_block=vrack_block)
        for h in ordered
    }
