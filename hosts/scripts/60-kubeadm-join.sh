#!/usr/bin/env bash
# 60-kubeadm-join: joins this host as a control plane or worker. The join secrets arrive on stdin
# (from 55-join-token), are substituted into the rendered JoinConfiguration in memory, written to a
# 0600 file for kubeadm and removed afterwards; they never appear in a command line or a log.
#
# stdin is 55's stdout as pulumi-command delivers it: with its final newline trimmed, so the last
# line (certificate_key=...) has no newline and the reader must not drop it.
#
# Done only when verified (join.done): the Node is registered and, for a control plane, the static
# pods, a healthy etcd member and the kubeadm ConfigMaps are there. A join that fails is reset at once
# (`kubeadm reset` removes this host's etcd member through the cluster), and a join interrupted
# before it could clean up (join.started without join.done) is reset by the next run.
# Usage: 60-kubeadm-join.sh ENV_FILE < secrets
set -euo pipefail
STAGE=60-kubeadm-join
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${JOIN_TEMPLATE:?}" "${KUBELET_PATCH:?}" "${NODE_NAME:?}" "${CONTROL_PLANE:?}"

install_kubelet_patch "$KUBELET_PATCH"
install_component_patches

joined() {
  wait_for "${VERIFY_SECONDS:-120}" node_registered "$NODE_NAME" || { log "node ${NODE_NAME} is not registered"; return 1; }
  if is_true "$CONTROL_PLANE"; then
    control_plane_complete
  fi
}

if marker_has join.done; then
  log "already joined"
  exit 0
fi
if marker_has join.started; then
  log "an earlier kubeadm join did not finish: resetting this host before joining again"
  kubeadm reset --force >/dev/null
  marker_clear join.started
elif [ -f "${ROOT}/etc/kubernetes/kubelet.conf" ]; then
  if VERIFY_SECONDS=30 joined; then
    marker_set join.done
    log "adopted a join made before this stage kept markers"
    exit 0
  fi
  die "kubelet.conf exists but the join is incomplete and this stage did not start it: see docs/runbooks/add-server.md ('A failed join')"
fi

# Read the whole input; the last line may have no newline.
token="" ca_hash="" certificate_key=""
while IFS='=' read -r key value || [ -n "$key" ]; do
  case "$key" in
    token) token="$value" ;;
    ca_hash) ca_hash="$value" ;;
    certificate_key) certificate_key="$value" ;;
  esac
done
[ -n "$token" ] && [ -n "$ca_hash" ] || die "no join token on stdin: the token may have expired; replace this host's 55-join-token command (docs/runbooks/add-server.md)"
if is_true "$CONTROL_PLANE" && [ -z "$certificate_key" ]; then
  die "no certificate key on stdin: a control plane cannot join without it; replace this host's 55-join-token command (docs/runbooks/add-server.md)"
fi

config="$(cat "$JOIN_TEMPLATE")"
config="${config//@@TOKEN@@/$token}"
config="${config//@@CA_CERT_HASH@@/$ca_hash}"
config="${config//@@CERTIFICATE_KEY@@/$certificate_key}"
file="${ROOT}/etc/kubernetes/magento/kubeadm-join.yaml"
install -d -m 0700 "$(dirname "$file")"
trap 'rm -f "$file"' EXIT
(umask 077 && printf '%s\n' "$config" >"$file")
marker_set join.started
if ! kubeadm join --config "$file" >/dev/null || ! joined; then
  log "the join failed: resetting this host so that no dead etcd member or half-registered kubelet stays"
  kubeadm reset --force >/dev/null || log "kubeadm reset failed too; 55-join-token removes a stale etcd member before the next join"
  marker_clear join.started
  die "kubeadm join of ${NODE_NAME} failed; run pulumi up again (a new token is needed once 15 minutes have passed: docs/runbooks/add-server.md)"
fi
marker_set join.done
marker_clear join.started
# A control plane set up with the settings of this run: 81-kubeadm-upgrade records them, and applies later changes.
[ ! -f "${ROOT}/etc/kubernetes/manifests/kube-apiserver.yaml" ] || marker_set control-plane-config fresh-join
log "joined the cluster"
