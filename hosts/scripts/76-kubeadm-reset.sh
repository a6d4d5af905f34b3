#!/usr/bin/env bash
# 76-kubeadm-reset: runs on a host that leaves the stack, after it was drained: `kubeadm reset`
# removes its etcd member (control planes) and its kubelet configuration, and the kubelet stops.
# ZFS data is not touched: the pool stays for a later re-join or an inspection.
# Usage: 76-kubeadm-reset.sh ENV_FILE
set -euo pipefail
STAGE=76-kubeadm-reset
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${NODE_NAME:?}"

if [ ! -f "${ROOT}/etc/kubernetes/kubelet.conf" ] && ! marker_has join.done && ! marker_has join.started; then
  log "${NODE_NAME} is not joined: nothing to reset"
  exit 0
fi
kubeadm reset --force
# A host that is added again later joins again.
marker_clear join.done
marker_clear join.started
systemctl disable --now --quiet kubelet
log "${NODE_NAME} left the cluster"
