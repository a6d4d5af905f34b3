#!/usr/bin/env bash
# 60-kubeadm-join: joins this host as a control plane or worker. The join secrets arrive on stdin
# (from 55-join-token), are substituted into the rendered JoinConfiguration in memory, written to a
# 0600 file for kubeadm and removed afterwards; they never appear in a command line or a log.
# Usage: 60-kubeadm-join.sh ENV_FILE < secrets
set -euo pipefail
STAGE=60-kubeadm-join
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${JOIN_TEMPLATE:?}" "${KUBELET_PATCH:?}"

install_kubelet_patch "$KUBELET_PATCH"
if [ -f "${ROOT}/etc/kubernetes/kubelet.conf" ]; then
  log "already joined"
  exit 0
fi

token="" ca_hash="" certificate_key=""
while IFS='=' read -r key value; do
  case "$key" in
    token) token="$value" ;;
    ca_hash) ca_hash="$value" ;;
    certificate_key) certificate_key="$value" ;;
  esac
done
[ -n "$token" ] && [ -n "$ca_hash" ] || die "no join token on stdin: the token may have expired; replace this host's 55-join-token command (docs/runbooks/add-server.md)"

config="$(cat "$JOIN_TEMPLATE")"
config="${config//@@TOKEN@@/$token}"
config="${config//@@CA_CERT_HASH@@/$ca_hash}"
config="${config//@@CERTIFICATE_KEY@@/$certificate_key}"
file="${ROOT}/etc/kubernetes/magento/kubeadm-join.yaml"
install -d -m 0700 "$(dirname "$file")"
trap 'rm -f "$file"' EXIT
(umask 077 && printf '%s\n' "$config" >"$file")
kubeadm join --config "$file" >/dev/null
log "joined the cluster"
