#!/usr/bin/env bash
# 80-upgrade-window: runs on the first control plane around one node's Kubernetes upgrade or kubelet
# configuration change. `drain` cordons and drains the node when its kubelet is not at the target
# version yet, or runs another kubelet configuration than KUBELET_DIGEST (the node annotation
# magento.io/kubelet-config, set when it registered and after each change), and marks it with an
# annotation; `uncordon` lets the node take pods again, only if this script drained it, and records
# the kubelet configuration it now runs.
# Usage: 80-upgrade-window.sh ENV_FILE drain|uncordon
set -euo pipefail
STAGE=80-upgrade-window
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE drain|uncordon}"
: "${NODE_NAME:?}" "${KUBERNETES_VERSION:?}" "${KUBELET_DIGEST:?}" "${DRAIN_TIMEOUT:=15m}"

annotation="magento.io/upgrade-drained"
kubelet_annotation="magento.io/kubelet-config"
use_admin_kubeconfig
kubectl get node "$NODE_NAME" >/dev/null 2>&1 || { log "node ${NODE_NAME} is not in the cluster yet"; exit 0; }
case "${2:?usage: $0 ENV_FILE drain|uncordon}" in
  drain)
    running="$(node_field "$NODE_NAME" '{{ .status.nodeInfo.kubeletVersion }}')"
    configured="$(node_field "$NODE_NAME" "{{ index .metadata.annotations \"${kubelet_annotation}\" }}")"
    if [ "$running" = "v${KUBERNETES_VERSION}" ] && [ "$configured" = "$KUBELET_DIGEST" ]; then
      exit 0
    fi
    # The version gate of 81-kubeadm-upgrade, before the drain: a refused upgrade must not leave the
    # node drained and cordoned.
    IFS=. read -r cur_major cur_minor cur_patch <<<"${running#v}"
    IFS=. read -r new_major new_minor new_patch <<<"$KUBERNETES_VERSION"
    if [ "$new_major" != "$cur_major" ] || [ "$new_minor" -gt $((cur_minor + 1)) ]; then
      die "node ${NODE_NAME} runs ${running}: upgrading to ${KUBERNETES_VERSION} skips a minor; go to ${cur_major}.$((cur_minor + 1)) first (nothing was drained)"
    fi
    if [ "$new_minor" -lt "$cur_minor" ] || { [ "$new_minor" -eq "$cur_minor" ] && [ "$new_patch" -lt "$cur_patch" ]; }; then
      die "node ${NODE_NAME} runs ${running}: kubeadm cannot downgrade to ${KUBERNETES_VERSION} (nothing was drained)"
    fi
    if [ -z "$(node_field "$NODE_NAME" "{{ index .metadata.annotations \"${annotation}\" }}")" ]; then
      kubectl annotate node "$NODE_NAME" --overwrite "${annotation}=v${KUBERNETES_VERSION}" >/dev/null
    fi
    [ "$configured" = "$KUBELET_DIGEST" ] || log "kubelet configuration of ${NODE_NAME} changes (${configured:-unknown} -> ${KUBELET_DIGEST})"
    kubectl drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT"
    ;;
  uncordon)
    if [ -n "$(node_field "$NODE_NAME" "{{ index .metadata.annotations \"${annotation}\" }}")" ]; then
      kubectl uncordon "$NODE_NAME"
      kubectl annotate node "$NODE_NAME" --overwrite "${kubelet_annotation}=${KUBELET_DIGEST}" >/dev/null
      kubectl annotate node "$NODE_NAME" "${annotation}-" >/dev/null
    fi
    ;;
  *) die "unknown action $2" ;;
esac
