#!/usr/bin/env bash
# 81-kubeadm-upgrade: applies a changed kubelet configuration (cluster.kubelet, the ARC cap) to a
# joined node, inside the drain of stage 80: the first control plane uploads the new kubelet-config
# ConfigMap, every node rewrites /var/lib/kubelet/config.yaml from it plus its patch and restarts the
# kubelet. And it moves a joined node to the configured Kubernetes version: kubeadm first, then
# `kubeadm upgrade apply` (first control plane) or `kubeadm upgrade node` (every other node), then
# kubelet and kubectl. It reads the version the node runs and refuses a downgrade or a skipped minor
# (config validation refuses them too when cluster.upgradeFrom is set). Nothing happens at the target.
# Usage: 81-kubeadm-upgrade.sh ENV_FILE
set -euo pipefail
STAGE=81-kubeadm-upgrade
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${KUBERNETES_VERSION:?}" "${KUBERNETES_PACKAGE_VERSION:?}" "${FIRST_CONTROL_PLANE:?}" "${KUBELET_DIGEST:?}"

if [ ! -f "${ROOT}/etc/kubernetes/kubelet.conf" ]; then
  log "not joined yet: nothing to upgrade"
  exit 0
fi
patches=/etc/kubernetes/magento/patches
kubelet_version="$(installed_version kubelet)"
if [ "$kubelet_version" = "$KUBERNETES_PACKAGE_VERSION" ] && [ "$(installed_version kubeadm)" = "$KUBERNETES_PACKAGE_VERSION" ]; then
  # The kubelet configuration this node runs: recorded when first seen (it joined with the current
  # one), applied when it changed.
  if ! marker_has kubelet-config; then
    marker_set kubelet-config "$KUBELET_DIGEST"
  elif [ "$(cat "${ROOT}${MARKERS}/kubelet-config")" != "$KUBELET_DIGEST" ]; then
    if is_true "$FIRST_CONTROL_PLANE"; then
      kubeadm init phase upload-config kubelet --config "${ROOT}/etc/kubernetes/magento/kubeadm-init.yaml" >/dev/null
    fi
    kubeadm upgrade node phase kubelet-config --patches "$patches" >/dev/null
    systemctl restart kubelet
    marker_set kubelet-config "$KUBELET_DIGEST"
    log "kubelet configuration ${KUBELET_DIGEST} applied"
  fi
  exit 0
fi

IFS=. read -r cur_major cur_minor cur_patch <<<"${kubelet_version%%-*}"
IFS=. read -r new_major new_minor new_patch <<<"$KUBERNETES_VERSION"
if [ "$new_major" != "$cur_major" ] || [ "$new_minor" -gt $((cur_minor + 1)) ]; then
  die "this node runs ${kubelet_version%%-*}: upgrading to ${KUBERNETES_VERSION} skips a minor; go to ${cur_major}.$((cur_minor + 1)) first"
fi
if [ "$new_minor" -lt "$cur_minor" ] || { [ "$new_minor" -eq "$cur_minor" ] && [ "$new_patch" -lt "$cur_patch" ]; }; then
  die "this node runs ${kubelet_version%%-*}: kubeadm cannot downgrade to ${KUBERNETES_VERSION}"
fi

ensure_pinned "kubeadm=${KUBERNETES_PACKAGE_VERSION}"
if is_true "$FIRST_CONTROL_PLANE"; then
  # An etcd snapshot first: the way back if `upgrade apply` breaks the control plane
  # (docs/runbooks/kubernetes-minor-upgrade.md). Kept under /var/lib/etcd, which the etcd pod mounts.
  snapshot="/var/lib/etcd/magento-snapshots/pre-upgrade-${kubelet_version%%-*}-to-${KUBERNETES_VERSION}.db"
  install -d -m 0700 "${ROOT}/var/lib/etcd/magento-snapshots"
  etcdctl_local snapshot save "$snapshot" >/dev/null || die "the etcd snapshot before the upgrade failed; nothing was upgraded"
  log "etcd snapshot ${snapshot}"
  kubeadm upgrade apply --yes --patches "$patches" "v${KUBERNETES_VERSION}"
else
  kubeadm upgrade node --patches "$patches"
fi
ensure_pinned "kubelet=${KUBERNETES_PACKAGE_VERSION}" "kubectl=${KUBERNETES_PACKAGE_VERSION}"
systemctl daemon-reload
systemctl restart kubelet
# kubeadm upgrade wrote the kubelet configuration from the (uploaded) ConfigMap and this node's patch.
marker_set kubelet-config "$KUBELET_DIGEST"
log "upgraded to ${KUBERNETES_VERSION}"
