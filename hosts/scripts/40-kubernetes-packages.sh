#!/usr/bin/env bash
# 40-kubernetes-packages: kubeadm, kubelet, kubectl and the CNI plugins from the per-minor
# pkgs.k8s.io repository, pinned and held. A node already in the cluster keeps its version here:
# version changes of a running node are the job of 81-kubeadm-upgrade (drain, upgrade, uncordon).
# Usage: 40-kubernetes-packages.sh ENV_FILE
set -euo pipefail
STAGE=40-kubernetes-packages
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${KUBERNETES_MINOR:?}" "${KUBERNETES_VERSION:?}" "${KUBERNETES_PACKAGE_VERSION:?}" "${CNI_PACKAGE_VERSION:?}"
: "${CONTROL_PLANE:?}"

repo="https://pkgs.k8s.io/core:/stable:/v${KUBERNETES_MINOR}/deb/"
ensure_apt_repo kubernetes "kubernetes-v${KUBERNETES_MINOR}" "${repo}Release.key" \
  "deb [signed-by=/etc/apt/keyrings/kubernetes-v${KUBERNETES_MINOR}.gpg] ${repo} /"

if [ -f "${ROOT}/etc/kubernetes/kubelet.conf" ] && [ -n "$(installed_version kubeadm)" ]; then
  current="$(installed_version kubelet)"
  if [ "$current" != "$KUBERNETES_PACKAGE_VERSION" ]; then
    log "this node runs kubelet ${current}; 81-kubeadm-upgrade moves it to ${KUBERNETES_PACKAGE_VERSION}"
  fi
  ensure_held kubeadm kubelet kubectl kubernetes-cni
else
  ensure_pinned "kubernetes-cni=${CNI_PACKAGE_VERSION}" "kubelet=${KUBERNETES_PACKAGE_VERSION}" \
    "kubeadm=${KUBERNETES_PACKAGE_VERSION}" "kubectl=${KUBERNETES_PACKAGE_VERSION}"
fi
systemctl is-enabled --quiet kubelet || systemctl enable --quiet kubelet

# Control-plane images of a host not in the cluster yet, pulled now, before any join token exists: a
# slow registry must not eat the 15 minutes a token lives. Only images containerd lacks are pulled.
if is_true "$CONTROL_PLANE" && [ ! -f "${ROOT}/etc/kubernetes/kubelet.conf" ]; then
  kubeadm config images list --kubernetes-version "v${KUBERNETES_VERSION}" 2>/dev/null | while read -r image; do
    [ -n "$image" ] || continue
    crictl inspecti "$image" >/dev/null 2>&1 || crictl pull "$image" >/dev/null
  done
fi

log "kubernetes packages ok"
