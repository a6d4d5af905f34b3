#!/usr/bin/env bash
# 10-baseline: OS baseline and hardening of an Ubuntu 24.04 server (see docs/hosts.md).
# Usage: 10-baseline.sh ENV_FILE   (the env file is rendered from the stack configuration)
set -euo pipefail
STAGE=10-baseline
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${HOST_NAME:?}" "${SSH_ALLOW_USERS:?}" "${PERMIT_ROOT_LOGIN:?}" "${TIMEZONE:?}" "${NTP_SERVERS:?}"
: "${KERNEL_VERSION?}" "${UNATTENDED_UPGRADES:?}" "${PRIVATE_INTERFACE:?}" "${PRIVATE_ADDRESS:?}"
: "${FIREWALL:?}" "${ADMIN_NETWORKS_V4?}" "${ADMIN_NETWORKS_V6?}" "${CLUSTER_NETWORKS_V4?}"
: "${CLUSTER_NETWORKS_V6?}" "${PUBLIC_TCP_PORTS?}" "${SSH_PORT:?}" "${JUMP_HOSTS_V4?}" "${JUMP_HOSTS_V6?}"
: "${POD_NETWORKS_V4?}" "${POD_NETWORKS_V6?}" "${LB_BLOCK?}" "${LB_GATEWAY?}" "${LB_ROUTE_TABLE?}"

# --- packages the baseline needs (from the Ubuntu archive)
ensure_packages ca-certificates curl gpg apparmor apparmor-utils chrony nftables unattended-upgrades

# --- host name: the Kubernetes node name
if [ "$(hostnamectl hostname)" != "$HOST_NAME" ]; then
  hostnamectl set-hostname "$HOST_NAME"
fi

# --- unattended security upgrades, never an automatic reboot (kured reboots nodes one at a time)
periodic=0
is_true "$UNATTENDED_UPGRADES" && periodic=1
put_file /etc/apt/apt.conf.d/20auto-upgrades 0644 <<CONF || true
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "${periodic}";
CONF
put_file /etc/apt/apt.conf.d/52magento-unattended-upgrades 0644 <<'CONF' || true
// Managed by the magento hosts layer: security updates only, no automatic reboot.
Unattended-Upgrade::Allowed-Origins { "${distro_id}:${distro_codename}-security"; };
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::Remove-Unused-Kernel-Packages "false";
CONF

# --- kernel: hold the configured ABI (or the running one) and every meta package that pulls new ABIs
# (the GA and the HWE series), boot it by default, and ask kured for a reboot when another one runs.
abi="${KERNEL_VERSION:-$(uname -r | sed 's/-generic$//')}"
ensure_packages "linux-image-${abi}-generic" "linux-modules-${abi}-generic"
ensure_held linux-generic linux-image-generic linux-headers-generic \
  linux-generic-hwe-24.04 linux-image-generic-hwe-24.04 linux-headers-generic-hwe-24.04 \
  "linux-image-${abi}-generic" "linux-modules-${abi}-generic"
# GRUB boots the newest installed kernel unless told otherwise; a held ABI must also be the one booted.
if put_file /etc/default/grub.d/90-magento-kernel.cfg 0644 <<CONF; then
# Managed by the magento hosts layer: boot the held kernel ABI.
GRUB_DEFAULT="Advanced options for Ubuntu>Ubuntu, with Linux ${abi}-generic"
CONF
  update-grub
fi
if [ "$(uname -r)" != "${abi}-generic" ]; then
  if [ ! -e "${ROOT}/var/run/reboot-required" ]; then
    install -d "${ROOT}/var/run"
    printf '*** System restart required ***\n' >"${ROOT}/var/run/reboot-required"
  fi
  log "kernel ${abi}-generic is installed, held and the GRUB default, but $(uname -r) is running: kured reboots this node (reboot-required is set)"
fi

# --- resolver: systemd-resolved without the 127.0.0.53 stub (CoreDNS must not forward to a loopback)
if put_file /etc/systemd/resolved.conf.d/10-magento-no-stub.conf 0644 <<'CONF'; then
[Resolve]
DNSStubListener=no
CONF
  systemctl restart systemd-resolved
fi
if [ "$(readlink "${ROOT}/etc/resolv.conf" || true)" != /run/systemd/resolve/resolv.conf ]; then
  ln -sfn /run/systemd/resolve/resolv.conf "${ROOT}/etc/resolv.conf"
  log "linked /etc/resolv.conf to the upstream resolvers"
fi

# --- AppArmor enforcing
aa-enabled --quiet || die "AppArmor is not enabled in the kernel (boot parameter apparmor=0?)"
ensure_service apparmor

# --- kernel modules and sysctls for Kubernetes, Cilium, OpenSearch and Valkey
put_file /etc/modules-load.d/90-magento-k8s.conf 0644 <<'CONF' || true
overlay
br_netfilter
CONF
for module in overlay br_netfilter; do
  [ -d "${ROOT}/sys/module/${module}" ] || modprobe "$module"
done
if put_file /etc/sysctl.d/90-magento-k8s.conf 0644 <<'CONF'; then
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
fs.inotify.max_user_instances = 8192
fs.inotify.max_user_watches = 524288
vm.max_map_count = 262144
vm.overcommit_memory = 1
kernel.panic = 10
kernel.panic_on_oops = 1
# Values the kubelet's protectKernelDefaults requires (it refuses to start when they differ).
vm.panic_on_oom = 0
kernel.keys.root_maxkeys = 1000000
kernel.keys.root_maxbytes = 25000000
# Two NICs (public and vRack) on one subnet-less host: answer ARP only for addresses of the interface
# asked on, and announce with that interface's address. MetalLB's L2 mode on the vRack needs both.
net.ipv4.conf.all.arp_ignore = 1
net.ipv4.conf.all.arp_announce = 2
CONF
  sysctl --system >/dev/null
fi

# --- swap off for good: now, in fstab, and for systemd's generated swap units
if [ -n "$(swapon --noheadings --show=NAME)" ]; then
  swapoff -a
  log "swap turned off"
fi
if grep -Eq '^[^#]\S*\s+\S+\s+swap\s' "${ROOT}/etc/fstab" 2>/dev/null; then
  sed -i -E 's/^([^#]\S*\s+\S+\s+swap\s.*)$/# disabled for the kubelet: \1/' "${ROOT}/etc/fstab"
  log "swap entries commented out in /etc/fstab"
fi
if [ "$(systemctl is-enabled swap.target 2>/dev/null || true)" != masked ]; then
  systemctl mask --quiet swap.target
fi

# --- time: zone and chrony against the configured servers
if [ "$(timedatectl show --property=Timezone --value)" != "$TIMEZONE" ]; then
  timedatectl set-timezone "$TIMEZONE"
fi
ntp_conf=""
for server in $NTP_SERVERS; do
  ntp_conf+="server ${server} iburst"$'\n'
done
if printf '%s' "$ntp_conf" | put_file /etc/chrony/sources.d/magento.sources 0644; then
  systemctl restart chrony
fi
ensure_service chrony

# --- SSH: keys only, no password logins at all, no root password login (first value wins in sshd)
sshd_conf="# Managed by the magento hosts layer.
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin ${PERMIT_ROOT_LOGIN}
AllowUsers ${SSH_ALLOW_USERS}
# OpenSSH's default: an agent offering several keys is not locked out before the right one.
MaxAuthTries 6
LoginGraceTime 30
X11Forwarding no
AllowAgentForwarding no
"
if printf '%s' "$sshd_conf" | put_file /etc/ssh/sshd_config.d/01-magento-hardening.conf 0644; then
  sshd -t || die "sshd rejects the hardened configuration; existing sessions are untouched"
  systemctl try-reload-or-restart ssh
fi

# --- host firewall: SSH and the API only from admin networks, cluster traffic only from the private network
if is_true "$FIREWALL"; then
  # Ubuntu's nftables.service runs `nft flush ruleset` on stop, which would also flush Cilium's tables:
  # stopping it removes only this layer's table.
  if put_file /etc/systemd/system/nftables.service.d/90-magento-own-table.conf 0644 <<'CONF'; then
# Managed by the magento hosts layer: stop removes only the magento_host table, never Cilium's.
[Service]
ExecStop=
ExecStop=-/usr/sbin/nft delete table inet magento_host
CONF
    systemctl daemon-reload
  fi
  rules="#!/usr/sbin/nft -f
# Managed by the magento hosts layer. Only this table is replaced: Cilium's own rules stay untouched.
table inet magento_host
delete table inet magento_host
table inet magento_host {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif \"lo\" accept
    meta l4proto { icmp, ipv6-icmp } accept
"
  [ -n "$ADMIN_NETWORKS_V4" ] && rules+="    ip saddr { ${ADMIN_NETWORKS_V4} } tcp dport { ${SSH_PORT}, 6443 } accept
"
  [ -n "$ADMIN_NETWORKS_V6" ] && rules+="    ip6 saddr { ${ADMIN_NETWORKS_V6} } tcp dport { ${SSH_PORT}, 6443 } accept
"
  # A jump host dials this host's public address from its own public address.
  [ -n "$JUMP_HOSTS_V4" ] && rules+="    ip saddr { ${JUMP_HOSTS_V4} } tcp dport ${SSH_PORT} accept
"
  [ -n "$JUMP_HOSTS_V6" ] && rules+="    ip6 saddr { ${JUMP_HOSTS_V6} } tcp dport ${SSH_PORT} accept
"
  # Pods never talk to etcd (peer or client port); they still reach the kubelet (metrics-server and
  # Prometheus, authenticated and authorised by the kubelet's webhook).
  [ -n "$POD_NETWORKS_V4" ] && rules+="    ip saddr { ${POD_NETWORKS_V4} } tcp dport { 2379, 2380 } drop
"
  [ -n "$POD_NETWORKS_V6" ] && rules+="    ip6 saddr { ${POD_NETWORKS_V6} } tcp dport { 2379, 2380 } drop
"
  [ -n "$CLUSTER_NETWORKS_V4" ] && rules+="    ip saddr { ${CLUSTER_NETWORKS_V4} } accept
"
  [ -n "$CLUSTER_NETWORKS_V6" ] && rules+="    ip6 saddr { ${CLUSTER_NETWORKS_V6} } accept
"
  [ -n "$PUBLIC_TCP_PORTS" ] && rules+="    tcp dport { ${PUBLIC_TCP_PORTS} } accept
"
  rules+="  }
}
"
  if printf '%s' "$rules" | put_file /etc/nftables.conf 0644; then
    nft -c -f "${ROOT}/etc/nftables.conf" || die "nft rejects the rendered ruleset"
    nft -f "${ROOT}/etc/nftables.conf"
  fi
  ensure_service nftables
fi

# --- systemd-networkd leaves routes and rules it did not create alone: `netplan apply` or a networkd
# restart would otherwise remove Cilium's pod routes (native routing) and policy rules.
networkd_changed=false
if put_file /etc/systemd/networkd.conf.d/90-magento-foreign-routes.conf 0644 <<'CONF'; then
# Managed by the magento hosts layer.
[Network]
ManageForeignRoutes=no
ManageForeignRoutingPolicyRules=no
CONF
  networkd_changed=true
fi

# --- the private (vRack) interface (netplan apply restarts networkd, which reads the drop-in above).
# With networking.vrackBlock, replies from the LoadBalancer block (MetalLB answers ARP for it on this interface)
# leave through the block's gateway on the vRack: a routing policy sends them to a table of their own, whose
# default route is that gateway (on-link: it is not in the private subnet). The public default route stays.
private_netplan="# Managed by the magento hosts layer.
network:
  version: 2
  ethernets:
    ${PRIVATE_INTERFACE}:
      dhcp4: false
      dhcp6: false
      addresses: [${PRIVATE_ADDRESS}]
"
if [ -n "$LB_BLOCK" ]; then
  private_netplan+="      routes:
        - to: default
          via: ${LB_GATEWAY}
          on-link: true
          table: ${LB_ROUTE_TABLE}
      routing-policy:
        - from: ${LB_BLOCK}
          table: ${LB_ROUTE_TABLE}
          priority: ${LB_ROUTE_TABLE}
"
fi
if printf '%s' "$private_netplan" | put_file /etc/netplan/60-magento-private.yaml 0600; then
  netplan generate
  netplan apply
elif [ "$networkd_changed" = true ]; then
  systemctl restart systemd-networkd
fi

# --- host health metrics for node exporter's textfile collector (docs/observability.md, "Host health"):
# certificate expiry and NVMe SMART from a timer, ZFS error events from a ZED zedlet.
: "${TEXTFILE_DIR:?}" "${ZFS_HOST:?}" "${HOST_HEALTH_SCRIPT:?}" "${ZEDLET:?}"
health_packages=(smartmontools jq)
is_true "$ZFS_HOST" && health_packages+=(zfs-zed)
ensure_packages "${health_packages[@]}"
[ -d "${ROOT}${TEXTFILE_DIR}" ] || install -d -m 0755 "${ROOT}${TEXTFILE_DIR}"
put_file /usr/local/sbin/magento-host-health 0755 <"$HOST_HEALTH_SCRIPT" || true
health_units=false
put_file /etc/systemd/system/magento-host-health.service 0644 <<UNIT && health_units=true
# Managed by the magento hosts layer: host health metrics for node exporter (certificates, NVMe, ZFS).
[Unit]
Description=Host health metrics for node exporter's textfile collector
[Service]
Type=oneshot
Environment=TEXTFILE_DIR=${TEXTFILE_DIR}
ExecStart=/usr/local/sbin/magento-host-health
Nice=10
UNIT
put_file /etc/systemd/system/magento-host-health.timer 0644 <<'UNIT' && health_units=true
# Managed by the magento hosts layer.
[Unit]
Description=Host health metrics every 5 minutes
[Timer]
OnBootSec=1min
OnUnitActiveSec=5min
AccuracySec=30s
[Install]
WantedBy=timers.target
UNIT
[ "$health_units" = true ] && systemctl daemon-reload
ensure_service magento-host-health.timer
if is_true "$ZFS_HOST"; then
  # ZED reads its zedlet directory when it starts: a new or changed zedlet needs a restart.
  if put_file /etc/zfs/zed.d/all-magento-metrics.sh 0755 <"$ZEDLET"; then
    ensure_service zfs-zed
    systemctl restart zfs-zed
  fi
  ensure_service zfs-zed
fi

log "baseline ok"
