#!/usr/bin/env bash
# 50-kubeadm-init: the first control plane, from the rendered kubeadm.k8s.io/v1beta4 configuration
# (kube-proxy skipped: Cilium replaces it). Runs once: an initialised host is left alone.
# Usage: 50-kubeadm-init.sh ENV_FILE
set -euo pipefail
STAGE=50-kubeadm-init
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${KUBEADM_CONFIG:?}" "${KUBELET_PATCH:?}"

install_kubelet_patch "$KUBELET_PATCH"
put_file /etc/kubernetes/magento/kubeadm-init.yaml 0600 <"$KUBEADM_CONFIG" || true

if [ -f "${ROOT}/etc/kubernetes/admin.conf" ]; then
  log "already initialised; changes to the cluster configuration go through kubeadm upgrade (docs/runbooks)"
  exit 0
fi
kubeadm init --config "${ROOT}/etc/kubernetes/magento/kubeadm-init.yaml" --upload-certs >/dev/null
log "control plane initialised"
