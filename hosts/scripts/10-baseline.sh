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
: "${CLUSTER_NETWORKS_V6?}" "${PUBLIC_TCP_PORTS?}"

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

# --- kernel: hold the configured ABI (or the running one) and the meta packages that pull new ABIs
abi="${KERNEL_VERSION:-$(uname -r | sed 's/-generic$//')}"
ensure_packages "linux-image-${abi}-generic" "linux-modules-${abi}-generic"
ensure_held linux-generic linux-image-generic linux-headers-generic "linux-image-${abi}-generic" "linux-modules-${abi}-generic"
if [ "$(uname -r)" != "${abi}-generic" ]; then
  log "kernel ${abi}-generic is installed and held but $(uname -r) is running: reboot this server (kured does it when the reboot-required file is present)"
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
MaxAuthTries 3
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
  [ -n "$ADMIN_NETWORKS_V4" ] && rules+="    ip saddr { ${ADMIN_NETWORKS_V4} } tcp dport { 22, 6443 } accept
"
  [ -n "$ADMIN_NETWORKS_V6" ] && rules+="    ip6 saddr { ${ADMIN_NETWORKS_V6} } tcp dport { 22, 6443 } accept
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

# --- the private (vRack) interface
if put_file /etc/netplan/60-magento-private.yaml 0600 <<CONF; then
# Managed by the magento hosts layer.
network:
  version: 2
  ethernets:
    ${PRIVATE_INTERFACE}:
      dhcp4: false
      dhcp6: false
      addresses: [${PRIVATE_ADDRESS}]
CONF
  netplan generate
  netplan apply
fi

log "baseline ok"
