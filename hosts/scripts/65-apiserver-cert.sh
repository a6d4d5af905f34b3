#!/usr/bin/env bash
# 65-apiserver-cert: keeps this control plane's API server certificate in step with the wanted subject
# alternative names (cluster.controlPlaneEndpoint, cluster.apiVip, cluster.apiAccess.server...). kubeadm
# writes the certificate once, at init or join; when the names change later it would keep the old one.
#
# Compares the SANs of /etc/kubernetes/pki/apiserver.crt (openssl x509 -ext subjectAltName) with
# WANTED_SANS; when they differ it moves the old certificate and key aside, runs `kubeadm init phase
# certs apiserver` with the rendered configuration, verifies the new certificate's SANs (the old pair
# goes back when they are wrong) and restarts the API server. The hosts layer runs this stage on one
# control plane at a time. Nothing happens when the names match.
# Usage: 65-apiserver-cert.sh ENV_FILE
set -euo pipefail
STAGE=65-apiserver-cert
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${WANTED_SANS:?}" "${KUBEADM_CONFIG:?}"

pki="${ROOT}/etc/kubernetes/pki"
cert="${pki}/apiserver.crt"
key="${pki}/apiserver.key"

# cert_sans FILE: the certificate's SANs, one per line, sorted (`DNS:name`, `IP Address:ip`).
cert_sans() {
  openssl x509 -noout -ext subjectAltName -in "$1" | tail -n +2 | tr ',' '\n' | sed -e 's/^ *//' -e 's/ *$//' -e '/^$/d' | LC_ALL=C sort -u
}
wanted="$(printf '%s\n' "${WANTED_SANS//|/$'\n'}" | LC_ALL=C sort -u)"

if [ -f "$cert" ]; then
  current="$(cert_sans "$cert")"
  if [ "$current" = "$wanted" ]; then
    log "the API server certificate names every wanted SAN"
    exit 0
  fi
  log "the API server certificate's SANs differ: missing [$(LC_ALL=C comm -13 <(printf '%s\n' "$current") <(printf '%s\n' "$wanted") | paste -sd ' ')], extra [$(LC_ALL=C comm -23 <(printf '%s\n' "$current") <(printf '%s\n' "$wanted") | paste -sd ' ')]"
else
  log "no API server certificate on this control plane: generating it"
fi

config=/etc/kubernetes/magento/kubeadm-certs.yaml
put_file "$config" 0600 <"$KUBEADM_CONFIG" || true
aside="${ROOT}/etc/kubernetes/magento/pki-aside/apiserver-$(date -u +%Y%m%dT%H%M%SZ)"
install -d -m 0700 "$aside"
restore() {
  if [ -f "${aside}/apiserver.crt" ]; then
    mv -f "${aside}/apiserver.crt" "$cert"
    mv -f "${aside}/apiserver.key" "$key"
    log "the previous certificate and key are back in place"
  fi
}
[ -f "$cert" ] && mv "$cert" "${aside}/apiserver.crt"
[ -f "$key" ] && mv "$key" "${aside}/apiserver.key"
if ! kubeadm init phase certs apiserver --config "${ROOT}${config}" >/dev/null; then
  restore
  die "kubeadm init phase certs apiserver failed; nothing was restarted"
fi
if [ "$(cert_sans "$cert")" != "$wanted" ]; then
  restore
  die "the regenerated certificate does not name the wanted SANs: ${WANTED_SANS//|/, }"
fi
log "regenerated the API server certificate (the old pair is kept in ${aside#"${ROOT}"})"
if [ -n "$(apiserver_container)" ]; then
  restart_apiserver
fi
log "the API server certificate names every wanted SAN"
