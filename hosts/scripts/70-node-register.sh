#!/usr/bin/env bash
# 70-node-register: runs on the first control plane once a host has joined: waits for its Node,
# sets the labels its roles and failure domain call for, and approves its kubelet serving
# certificate requests (serverTLSBootstrap), checking the requester is that node.
# Usage: 70-node-register.sh ENV_FILE
set -euo pipefail
STAGE=70-node-register
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${NODE_NAME:?}" "${NODE_LABELS?}" "${REMOVE_TAINTS?}" "${KUBELET_DIGEST:?}" "${WAIT_SECONDS:=300}"

use_admin_kubeconfig
waited=0
until kubectl get node "$NODE_NAME" >/dev/null 2>&1; do
  [ "$waited" -lt "$WAIT_SECONDS" ] || die "node ${NODE_NAME} did not register within ${WAIT_SECONDS}s"
  sleep 5
  waited=$((waited + 5))
done

for label in $NODE_LABELS; do
  key="${label%%=*}"
  value="${label#*=}"
  # A missing label reads as "<no value>", so an empty-valued label is told apart from no label.
  current="$(kubectl get node "$NODE_NAME" -o "go-template={{ index .metadata.labels \"${key}\" }}")"
  if [ "$current" != "$value" ]; then
    kubectl label node "$NODE_NAME" --overwrite "${key}=${value}" >/dev/null
  fi
done

# Taints an earlier version registered that the node must not keep (key:effect).
taints="$(kubectl get node "$NODE_NAME" -o go-template='{{ range .spec.taints }}{{ .key }}:{{ .effect }}{{ "\n" }}{{ end }}')"
for taint in $REMOVE_TAINTS; do
  if grep -qxF -- "$taint" <<<"$taints"; then
    kubectl taint node "$NODE_NAME" "${taint}-" >/dev/null
    log "removed the taint ${taint} from ${NODE_NAME}"
  fi
done

# The kubelet configuration the node joined with (stage 80 drains it when that changes). Set once:
# later values are written by 80-upgrade-window after the change was applied.
if [ -z "$(node_field "$NODE_NAME" '{{ index .metadata.annotations "magento.io/kubelet-config" }}')" ]; then
  kubectl annotate node "$NODE_NAME" --overwrite "magento.io/kubelet-config=${KUBELET_DIGEST}" >/dev/null
fi

# Pending kubelet-serving CSRs of this node (approved ones have conditions).
pending_csrs() {
  kubectl get csr -o go-template="{{ range .items }}{{ if and (eq .spec.signerName \"kubernetes.io/kubelet-serving\") (eq .spec.username \"system:node:${NODE_NAME}\") (not .status.conditions) }}{{ .metadata.name }}{{ \"\\n\" }}{{ end }}{{ end }}"
}
for csr in $(pending_csrs); do
  kubectl certificate approve "$csr" >/dev/null
  log "approved kubelet serving certificate ${csr}"
done

log "node ${NODE_NAME} registered"
