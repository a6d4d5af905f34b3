#!/usr/bin/env bash
# 20-zfs: the ZFS mirror pool LocalPV-ZFS provisions its volumes in (StorageClass poolname), and the
# ARC cap (see docs/hosts.md).
# Usage: 20-zfs.sh ENV_FILE
# The two mirror members are whole disks or partitions (their /dev/disk/by-id/...-partN links), for
# OVH's layout where the OS RAID1 takes a small part of both NVMe disks (docs/runbooks/prepare-server.md).
# Refuses to touch a device that holds partitions, a filesystem or another pool unless the stack
# configuration allows wiping it (hosts[].zfs.disks[].allowWipe), and one in use (RAID, mount) always.
set -euo pipefail
STAGE=20-zfs
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${DISK_KEY:?}" "${POOL:?}" "${DISK_1:?}" "${DISK_2:?}" "${ALLOW_WIPE_1:?}" "${ALLOW_WIPE_2:?}" "${ARC_MAX_BYTES:?}"

ensure_packages zfsutils-linux

# check_disk DEVICE ALLOW_WIPE KEY: fail unless the device (a whole disk or a partition, by id) is blank
# or the configuration allows wiping it. A device in use is refused even with allowWipe: one that holds
# an md RAID member, LVM or dm-crypt (OVH's standard layout puts the OS RAID1 on both NVMe disks), a
# mounted filesystem or active swap. wipefs would fail with EBUSY on it, and it would be the OS.
check_disk() {
  local disk="$1" allow="$2" key="$3" tree parts users mounts signature
  [ -e "${ROOT}${disk}" ] || die "${disk} does not exist on this server (check ${key}.id)"
  # One line per device: the disk or partition itself, its partitions, and what sits on them.
  tree="$(lsblk --noheadings --raw --output NAME,TYPE,MOUNTPOINT "$disk")"
  parts="$(awk 'NR > 1 && $2 == "part"' <<<"$tree" | wc -l)"
  users="$(awk 'NR > 1 && $2 != "part" { printf "%s%s (%s)", sep, $1, $2; sep = ", " }' <<<"$tree")"
  mounts="$(awk '$3 != "" { printf "%s%s on %s", sep, $1, $3; sep = ", " }' <<<"$tree")"
  if [ -n "$users" ] || [ -n "$mounts" ]; then
    die "refusing ${disk}: it is in use${users:+, held by ${users}}${mounts:+, mounted: ${mounts}}. allowWipe cannot help (the kernel keeps it busy). On OVH's standard layout the OS RAID1 spans both NVMe disks: reinstall with the custom layout of docs/runbooks/prepare-server.md and set ${key}.id to the free partition's -partN link"
  fi
  signature="$(blkid --probe --output value --match-tag TYPE "$disk" 2>/dev/null || true)"
  if [ "$parts" -eq 0 ] && [ -z "$signature" ]; then
    return 0
  fi
  if ! is_true "$allow"; then
    die "refusing to touch ${disk}: it holds ${parts} partition(s)${signature:+ and a ${signature} signature}. If its data may be destroyed, set ${key}.allowWipe: true"
  fi
  log "wiping ${disk} (${parts} partition(s)${signature:+, ${signature}}): allowed by ${key}.allowWipe"
  zpool labelclear -f "$disk" 2>/dev/null || true
  wipefs --all "$disk"
}

if zpool list -H -o name "$POOL" >/dev/null 2>&1; then
  members="$(zpool status -P "$POOL")"
  for disk in "$DISK_1" "$DISK_2"; do
    grep -q -- "$disk" <<<"$members" || log "WARNING: ${disk} is not a member of pool ${POOL} (replaced disk? see docs/runbooks/replace-mirror-disk.md)"
  done
else
  check_disk "$DISK_1" "$ALLOW_WIPE_1" "${DISK_KEY}[0]"
  check_disk "$DISK_2" "$ALLOW_WIPE_2" "${DISK_KEY}[1]"
  zpool create -o ashift=12 -o autotrim=on \
    -O compression=lz4 -O atime=off -O xattr=sa -O acltype=posixacl -O mountpoint=none \
    "$POOL" mirror "$DISK_1" "$DISK_2"
  log "created pool ${POOL} (mirror)"
fi

# Properties the volumes LocalPV-ZFS creates under the pool inherit (a StorageClass may override them).
for property in compression=lz4 atime=off xattr=sa; do
  if [ "$(zfs get -H -o value "${property%%=*}" "$POOL")" != "${property#*=}" ]; then
    zfs set "$property" "$POOL"
  fi
done

# ARC cap: at boot (modprobe.d) and now (module parameter); kubelet reserves the same amount.
put_file /etc/modprobe.d/zfs-arc.conf 0644 <<CONF || true
options zfs zfs_arc_max=${ARC_MAX_BYTES}
CONF
arc="${ROOT}/sys/module/zfs/parameters/zfs_arc_max"
if [ -e "$arc" ] && [ "$(cat "$arc")" != "$ARC_MAX_BYTES" ]; then
  printf '%s\n' "$ARC_MAX_BYTES" >"$arc"
  log "ARC capped at ${ARC_MAX_BYTES} bytes"
fi
ensure_service zfs-zed

log "zfs ok"
