#!/usr/bin/env bash
# 55-join-token: runs on the first control plane and prints, for one joining host, a bootstrap
# token valid 15 minutes, the CA public key hash and (control planes only) a fresh certificate key.
# The output is a Pulumi secret and is never logged; it is handed to 60-kubeadm-join on stdin.
# Nothing is created for a node that is already in the cluster.
#
# Before a control plane joins, an etcd member left behind by an earlier failed join of that host
# (its name, or an unstarted member with its peer URL) is removed: a dead member counts against the
# quorum, and the next join would add a second one.
# Usage: 55-join-token.sh ENV_FILE
set -euo pipefail
STAGE=55-join-token
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${NODE_NAME:?}" "${CONTROL_PLANE:?}" "${PEER_URL:?}"

use_admin_kubeconfig
if kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
  printf 'joined=true\n'
  exit 0
fi
if is_true "$CONTROL_PLANE"; then
  # Lines: ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER
  while IFS=', ' read -r id _status name peers _rest; do
    if [ "$name" = "$NODE_NAME" ] || [ "$peers" = "$PEER_URL" ]; then
      etcdctl_local member remove "$id" >/dev/null
      log "removed the etcd member ${id} left by an earlier join of ${NODE_NAME}"
    fi
  done < <(etcdctl_local member list --write-out=simple)
fi
token="$(kubeadm token create --ttl 15m --description "join ${NODE_NAME} (magento hosts layer)")"
ca_hash="$(openssl x509 -pubkey -noout -in "${ROOT}/etc/kubernetes/pki/ca.crt" \
  | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //')"
certificate_key=""
if is_true "$CONTROL_PLANE"; then
  certificate_key="$(kubeadm init phase upload-certs --upload-certs 2>/dev/null | tail -n 1)"
  [ -n "$certificate_key" ] || die "kubeadm printed no certificate key"
fi
printf 'token=%s\nca_hash=sha256:%s\ncertificate_key=%s\n' "$token" "$ca_hash" "$certificate_key"
