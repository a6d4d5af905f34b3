#!/usr/bin/env bash
# 81-kubeadm-upgrade: applies a changed kubelet configuration (cluster.kubelet, the ARC cap) to a
# joined node, inside the drain of stage 80: the first control plane uploads the new kubelet-config
# ConfigMap, every node rewrites /var/lib/kubelet/config.yaml from it plus its patch and restarts the
# kubelet. And it moves a joined node to the configured Kubernetes version: kubeadm first, then
# `kubeadm upgrade apply` (first control plane) or `kubeadm upgrade node` (every other node), then
# kubelet and kubectl. It reads the version the node runs and refuses a downgrade or a skipped minor
# (config validation refuses them too when cluster.upgradeFrom is set). Nothing happens at the target.
# On a control plane it also applies changed settings of kube-apiserver (flags and volumes: Secret encryption,
# the audit log), kube-controller-manager, kube-scheduler and etcd
# (CONTROL_PLANE_DIGEST: their ClusterConfiguration sections and this node's patches, hosts/kubeadm.py): the
# first control plane uploads the ClusterConfiguration, each control plane renders its static pods from it
# (`kubeadm upgrade node phase control-plane`, which rewrites only the manifests that differ and waits for
# each component to come back), one control plane after the other.
# Usage: 81-kubeadm-upgrade.sh ENV_FILE
set -euo pipefail
STAGE=81-kubeadm-upgrade
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${KUBERNETES_VERSION:?}" "${KUBERNETES_PACKAGE_VERSION:?}" "${FIRST_CONTROL_PLANE:?}" "${KUBELET_DIGEST:?}"
: "${CONTROL_PLANE_DIGEST?}"

# apply_control_plane_config: applies the control-plane components' settings when this node runs others than
# CONTROL_PLANE_DIGEST. 50-kubeadm-init and 60-kubeadm-join mark a control plane they set up in this run
# (`fresh-*`): it runs the current settings, which are recorded. No record means a control plane set up before
# this stage kept one: its manifests are rendered anew (kubeadm leaves those that do not differ alone). Nothing
# on a worker.
apply_control_plane_config() {
  local recorded=""
  [ -n "$CONTROL_PLANE_DIGEST" ] || return 0
  [ -f "${ROOT}/etc/kubernetes/manifests/kube-apiserver.yaml" ] || return 0
  install_component_patches
  marker_has control-plane-config && recorded="$(cat "${ROOT}${MARKERS}/control-plane-config")"
  case "$recorded" in
    "$CONTROL_PLANE_DIGEST") return 0 ;;
    fresh-*)
      marker_set control-plane-config "$CONTROL_PLANE_DIGEST"
      return 0
      ;;
  esac
  if is_true "$FIRST_CONTROL_PLANE"; then
    kubeadm init phase upload-config kubeadm --config "${ROOT}/etc/kubernetes/magento/kubeadm-init.yaml" >/dev/null
  fi
  kubeadm upgrade node phase control-plane --patches "$patches" --certificate-renewal=false >/dev/null
  wait_for "${VERIFY_SECONDS:-120}" etcd_healthy || die "etcd is not healthy after its manifest changed; the marker stays at the old settings"
  marker_set control-plane-config "$CONTROL_PLANE_DIGEST"
  log "control-plane settings ${CONTROL_PLANE_DIGEST} applied (kube-apiserver, kube-controller-manager, kube-scheduler, etcd)"
}

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
  apply_control_plane_config
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
# `upgrade apply` rendered the control plane from the stored ClusterConfiguration: settings changed together
# with the version are uploaded and applied now.
apply_control_plane_config
