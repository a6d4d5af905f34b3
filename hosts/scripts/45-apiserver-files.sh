#!/usr/bin/env bash
# 45-apiserver-files: the files the kube-apiserver of this control plane reads, before kubeadm init or
# join starts it: the EncryptionConfiguration for Secrets at rest (0600 root) and the audit policy,
# under /etc/kubernetes/magento/apiserver (mounted read-only into the static pod), and the audit log
# directory /var/log/kubernetes/audit.
#
# The encryption keys arrive on stdin as `name=base64` lines (a secret Output of pulumi-random, its
# final newline trimmed by pulumi-command); they are substituted into the rendered template in memory
# and never printed. When a file changes on a running control plane, its API server is restarted and
# must answer again before the next control plane's stage runs (the hosts layer orders them).
# Usage: 45-apiserver-files.sh ENV_FILE < keys
set -euo pipefail
STAGE=45-apiserver-files
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${ENCRYPTION_TEMPLATE:?}" "${AUDIT_POLICY_FILE:?}" "${KEY_NAMES:?}" "${APISERVER_DIR:?}" "${AUDIT_DIR:?}"

# Read the whole input; the last line may have no newline. Split at the first '=' only: base64 ends
# in '=' padding, which `IFS='=' read` would strip.
declare -A keys=()
while IFS= read -r line || [ -n "$line" ]; do
  [ -n "$line" ] && keys["${line%%=*}"]="${line#*=}"
done
config="$(cat "$ENCRYPTION_TEMPLATE")"
for name in $KEY_NAMES; do
  key="${keys[$name]:-}"
  [ -n "$key" ] || die "encryption key ${name} is missing on stdin (cluster.secretsEncryption.keys)"
  length="$(printf '%s' "$key" | base64 -d 2>/dev/null | wc -c)" || length=0
  [ "$length" -eq 32 ] || die "encryption key ${name} is not 32 base64-encoded bytes"
  config="${config//@@KEY_${name}@@/$key}"
done
case "$config" in
  *@@*) die "the encryption configuration still holds a placeholder: a key in the template has no value" ;;
esac

umask 077
install -d -m 0700 "${ROOT}${APISERVER_DIR}"
install -d -m 0700 "${ROOT}${AUDIT_DIR}"
changed=false
printf '%s\n' "$config" | put_file "${APISERVER_DIR}/encryption-config.yaml" 0600 && changed=true
put_file "${APISERVER_DIR}/audit-policy.yaml" 0600 <"$AUDIT_POLICY_FILE" && changed=true

manifest="${ROOT}/etc/kubernetes/manifests/kube-apiserver.yaml"
if [ "$changed" = true ] && [ -f "$manifest" ]; then
  if grep -q -- "--encryption-provider-config=" "$manifest"; then
    restart_apiserver
  else
    log "WARNING: this API server was set up without --encryption-provider-config: stage 81 of this run renders its manifest with the flags (docs/hosts.md, 'Encryption at rest on an existing cluster')"
  fi
fi
log "API server files ok"
