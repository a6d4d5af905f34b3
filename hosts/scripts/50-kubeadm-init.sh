#!/usr/bin/env bash
# 50-kubeadm-init: the first control plane, from the rendered kubeadm.k8s.io/v1beta4 configuration
# (kube-proxy skipped: Cilium replaces it). Runs once, and counts as done only when verified.
#
#   init.done     this script verified a finished init: nothing more to do.
#   init.started  an init this script started did not finish (connection lost, timeout, error): the
#                 partial control plane is reset (`kubeadm reset`) and initialised again. No other
#                 host can have joined it: every join waits for this stage to succeed.
#   neither, but kubeadm files exist: a control plane this script did not start (an older version of
#                 this layer, or by hand). It is verified and adopted, never reset.
#
# Usage: 50-kubeadm-init.sh ENV_FILE
set -euo pipefail
STAGE=50-kubeadm-init
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${KUBEADM_CONFIG:?}" "${KUBELET_PATCH:?}"

install_kubelet_patch "$KUBELET_PATCH"
install_component_patches
config=/etc/kubernetes/magento/kubeadm-init.yaml
put_file "$config" 0600 <"$KUBEADM_CONFIG" || true

if marker_has init.done; then
  log "already initialised; changes to the cluster configuration go through kubeadm upgrade (docs/runbooks)"
  exit 0
fi
if marker_has init.started; then
  log "an earlier kubeadm init did not finish: resetting the partial control plane and starting again"
  kubeadm reset --force >/dev/null
  marker_clear init.started
elif [ -f "${ROOT}/etc/kubernetes/admin.conf" ] || [ -f "${ROOT}/etc/kubernetes/manifests/kube-apiserver.yaml" ]; then
  if VERIFY_SECONDS=30 control_plane_complete; then
    marker_set init.done
    log "adopted the control plane that was initialised before this stage kept markers"
    exit 0
  fi
  die "kubeadm files exist but the control plane is incomplete and this stage did not start it: inspect it (docs/runbooks/prepare-server.md, 'A failed first init') before running kubeadm reset"
fi

marker_set init.started
kubeadm init --config "${ROOT}${config}" --upload-certs >/dev/null
control_plane_complete || die "kubeadm init returned but the control plane is incomplete; the next run resets and retries it"
marker_set init.done
marker_clear init.started
# A control plane set up with the settings of this run: 81-kubeadm-upgrade records them, and applies later changes.
[ ! -f "${ROOT}/etc/kubernetes/manifests/kube-apiserver.yaml" ] || marker_set control-plane-config fresh-init
log "control plane initialised"
