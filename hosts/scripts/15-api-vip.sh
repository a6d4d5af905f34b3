#!/usr/bin/env bash
# 15-api-vip: keepalived on a control plane, holding the API VIP (cluster.apiVip) on the vRack
# interface while this host's API server answers (docs/adr/0002-api-endpoint-keepalived-vip.md).
#
# VRRP goes unicast between the control planes' private addresses (no multicast needed on the vRack;
# adverts from any other source are dropped). Every instance starts as BACKUP; the priority orders
# the hosts (first control plane highest), and a failing API health check lowers it by 60, so the VIP
# moves to a host whose API answers. Before `kubeadm init` no API answers anywhere: the first control
# plane, alone or highest, takes the VIP anyway, and `kubeadm init` reaches itself through it.
# Usage: 15-api-vip.sh ENV_FILE
set -euo pipefail
STAGE=15-api-vip
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC1090
. "${1:?usage: $0 ENV_FILE}"
: "${HOST_NAME:?}" "${VIP:?}" "${VIP_PREFIX:?}" "${INTERFACE:?}" "${SOURCE_ADDRESS:?}" "${PEERS?}"
: "${PRIORITY:?}" "${ROUTER_ID:?}" "${API_PORT:?}"

ensure_packages keepalived curl

put_file /etc/keepalived/check-apiserver.sh 0755 <<CHECK || true
#!/bin/sh
# Managed by the magento hosts layer: exit 0 while the local API server reports itself live.
exec curl --fail --silent --insecure --max-time 2 --output /dev/null https://127.0.0.1:${API_PORT}/livez
CHECK

peers=""
for peer in $PEERS; do
  peers+="    ${peer}"$'\n'
done
conf="# Managed by the magento hosts layer.
global_defs {
  router_id ${HOST_NAME}
  script_user root
  enable_script_security
}

vrrp_script magento_apiserver {
  script \"/etc/keepalived/check-apiserver.sh\"
  interval 3
  timeout 3
  fall 3
  rise 2
  weight -60
}

vrrp_instance magento_api {
  state BACKUP
  interface ${INTERFACE}
  virtual_router_id ${ROUTER_ID}
  priority ${PRIORITY}
  advert_int 1
  unicast_src_ip ${SOURCE_ADDRESS}
  check_unicast_src
  unicast_peer {
${peers}  }
  virtual_ipaddress {
    ${VIP}/${VIP_PREFIX} dev ${INTERFACE}
  }
  track_script {
    magento_apiserver
  }
}
"
if printf '%s' "$conf" | put_file /etc/keepalived/keepalived.conf 0644; then
  keepalived --config-test --use-file "${ROOT}/etc/keepalived/keepalived.conf" || die "keepalived rejects the rendered configuration"
  if systemctl is-active --quiet keepalived; then
    systemctl reload keepalived
  fi
fi
ensure_service keepalived

log "api vip ok"
