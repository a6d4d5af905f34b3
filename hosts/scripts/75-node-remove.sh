#!/usr/bin/env bash
# 75-node-remove: runs on the first control plane when a host leaves the stack (the `delete` of its
# node commands). `drain` evicts its pods first; `delete` removes the Node object once the host
# itself has been reset (76-kubeadm-reset), so that its kubelet cannot register it again.
# Usage: 75-node-remove.sh ENV_FILE drain|delete
set -euo pipefail
STAGE=75-node-remove
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE drain|delete}"
: "${NODE_NAME:?}" "${DRAIN_TIMEOUT:=15m}"

if [ ! -f "${ROOT}/etc/kubernetes/admin.conf" ]; then
  log "no admin kubeconfig here (the cluster is being destroyed): nothing to do for ${NODE_NAME}"
  exit 0
fi
use_admin_kubeconfig
if ! kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
  log "node ${NODE_NAME} is not in the cluster"
  exit 0
fi
case "${2:?usage: $0 ENV_FILE drain|delete}" in
  drain)
    kubectl drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT"
    ;;
  delete)
    kubectl delete node "$NODE_NAME" --wait=true
    ;;
  *) die "unknown action $2" ;;
esac
